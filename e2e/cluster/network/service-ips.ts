/** Cluster IP allocation for Services, done synchronously on create as the API server does. */
import { errors } from '../api/status-errors';
import type { KubeObject, Service } from '../api/objects';
import type { RegistryHooks } from '../api/registry';
import type { ResourceType } from '../api/resources';
import type { IpPool } from './ip-slots';

/** Registry hooks that give each new Service a clusterIP from `pool`, keep it on updates, and free it on delete. */
export function serviceIpHooks(pool: IpPool, serviceRange: string): RegistryHooks {
  const isService = (type: ResourceType): boolean => type.kind === 'Service';
  return {
    beforeCreate(type: ResourceType, object: KubeObject) {
      if (!isService(type)) return;
      const spec = (object as Service).spec;
      if (spec.type === 'ExternalName') return;
      const requested = spec.clusterIP;
      if (requested && requested !== 'None' && !pool.claim(requested)) {
        throw errors.invalid('Service', '', object.metadata.name ?? '', [
          {
            field: 'spec.clusterIPs',
            message: `Invalid value: []string{"${requested}"}: failed to allocate IP ${requested}: provided IP is not in the valid range. The range of valid IPs is ${serviceRange}`,
          },
        ]);
      }
      const ip = requested ?? pool.allocate();
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
      spec.ipFamilies = ['IPv4'];
      spec.ipFamilyPolicy = 'SingleStack';
      spec.internalTrafficPolicy = 'Cluster';
    },
    beforeUpdate(type: ResourceType, object: KubeObject, previous: KubeObject) {
      if (!isService(type)) return;
      const spec = (object as Service).spec;
      const before = (previous as Service).spec;
      if (spec.type === 'ExternalName') return;
      if (!spec.clusterIP) {
        spec.clusterIP = before.clusterIP;
        spec.clusterIPs = before.clusterIPs;
      } else if (before.clusterIP && spec.clusterIP !== before.clusterIP) {
        throw errors.invalid('Service', '', object.metadata.name ?? '', [
          {
            field: 'spec.clusterIPs[0]',
            message: `Invalid value: []string{"${spec.clusterIP}"}: may not change once set`,
          },
        ]);
      }
    },
    afterRemove(type: ResourceType, object: KubeObject) {
      const ip = isService(type) ? (object as Service).spec.clusterIP : undefined;
      if (ip && ip !== 'None') pool.release(ip);
    },
  };
}

/** Combines hooks, calling each in order. */
export function combineHooks(...all: RegistryHooks[]): RegistryHooks {
  return {
    beforeCreate: (type, object) => all.forEach((h) => h.beforeCreate?.(type, object)),
    beforeUpdate: (type, object, previous) => all.forEach((h) => h.beforeUpdate?.(type, object, previous)),
    afterRemove: (type, object) => all.forEach((h) => h.afterRemove?.(type, object)),
  };
}
