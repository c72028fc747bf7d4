/**
 * What a pod resolves, as cluster DNS would answer it, written as the pod's /etc/hosts (the
 * kubelet manages that file in real pods too): every Service's names to its cluster IP (a
 * headless one's to its ready endpoints), an ExternalName to what its target resolves to, and
 * the outside hosts' names. Short names (`svc`, `svc.ns`) are listed as the search path would
 * complete them from the pod's own namespace.
 */
import { field, type KubeObject, type Service } from '../api/objects';
import { resourceTypeOfKind } from '../api/resources';
import type { ObjectStore } from '../api/store';

const services = resourceTypeOfKind('Service');
const slices = resourceTypeOfKind('EndpointSlice');

export function renderDnsView(options: {
  store: ObjectStore;
  clusterDomain: string;
  podNamespace: string;
  podName: string;
  podIp: string;
  outside: ReadonlyMap<string, string>;
}): string {
  const { store, clusterDomain, podNamespace } = options;
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${options.podIp}\t${options.podName}`,
  ];
  const addressOf = new Map<string, string[]>();
  const all = store.list(services) as Service[];
  const slicesOf = new Map<string, KubeObject[]>();
  for (const slice of store.list(slices)) {
    const key = `${slice.metadata.namespace ?? ''}/${slice.metadata.labels?.['kubernetes.io/service-name'] ?? ''}`;
    slicesOf.set(key, [...(slicesOf.get(key) ?? []), slice]);
  }
  const namesOf = (service: Service): string[] => {
    const { name = '', namespace = '' } = service.metadata;
    const names = [
      `${name}.${namespace}`,
      `${name}.${namespace}.svc`,
      `${name}.${namespace}.svc.${clusterDomain}`,
    ];
    return namespace === podNamespace ? [name, ...names] : names;
  };
  for (const service of all) {
    const ip = service.spec.clusterIP;
    const full = `${service.metadata.name ?? ''}.${service.metadata.namespace ?? ''}.svc.${clusterDomain}`;
    if (ip && ip !== 'None') addressOf.set(full, [ip]);
    else if (service.spec.type !== 'ExternalName') {
      const ready = (
        slicesOf.get(`${service.metadata.namespace ?? ''}/${service.metadata.name ?? ''}`) ?? []
      ).flatMap((s) =>
        ((field(s, 'endpoints') ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[])
          .filter((e) => e.conditions?.ready ?? true)
          .flatMap((e) => e.addresses),
      );
      addressOf.set(full, ready);
    }
  }
  const resolve = (name: string): string[] =>
    options.outside.has(name) ? [options.outside.get(name) ?? ''] : (addressOf.get(name) ?? []);
  for (const service of all) {
    const full = `${service.metadata.name ?? ''}.${service.metadata.namespace ?? ''}.svc.${clusterDomain}`;
    const addresses =
      service.spec.type === 'ExternalName' ? resolve(service.spec.externalName ?? '') : resolve(full);
    for (const address of addresses) lines.push(`${address}\t${namesOf(service).join(' ')}`);
  }
  for (const [host, ip] of options.outside) lines.push(`${ip}\t${host}`);
  return `${lines.join('\n')}\n`;
}
