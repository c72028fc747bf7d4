/**
 * The objects of a Service's router, by name (one router per Service, so every developer's
 * Localizer finds the same one) and as created: the ConfigMap that owns the rest, the origin
 * Service with the Service's own selector, and the HAProxy pod, which passes Pod Security
 * "restricted" as the SSH pod does.
 */
import type * as k8s from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { localizerKeys } from '../../kube/localizer-keys';
import { restrictedContainerSecurity, restrictedPodSecurity } from '../../kube/restricted-pod';
import { interceptSelector } from '../service-takeover';
import { errorStatus } from '../../kube/api-errors';
import { renderRouterConfig, renderRoutesMap, routerAdminPort, routerConfigDirectory } from './router-config';
import { routerSlots, stateKey, type RouterState } from './router-state';

/**
 * Docker's official HAProxy image: maintained, multi-arch, runs as its non-root `haproxy`
 * account (uid 99), and is header-aware for HTTP/1.1, h2c and WebSocket upgrades.
 */
export const routerImage = { image: 'haproxy:2.6', uid: 99 } as const;

/**
 * The router's image reference: Docker's by default, or a mirror of it where the cluster
 * pulls only from its own registry (LOCALIZER_ROUTER_IMAGE).
 */
export function routerImageReference(): string {
  return process.env.LOCALIZER_ROUTER_IMAGE?.trim() || routerImage.image;
}

/** `<prefix><service>`, cut and hashed to fit a DNS-1035 name of 63 characters. */
function fitted(prefix: string, service: string): string {
  const name = `${prefix}${service}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(service).digest('hex').slice(0, 8);
  return `${name.slice(0, 63 - 9).replace(/-+$/, '')}-${hash}`;
}

export type RouterObjects = ReturnType<typeof routerObjects>;

export function routerObjects(service: string) {
  const configMap = fitted('localizer-router-', service);
  const origin = fitted('localizer-origin-', service);
  const labels = {
    [localizerKeys.managedBy]: 'localizer',
    [localizerKeys.role]: 'router',
    [localizerKeys.router]: configMap,
  };
  const ownedBy = (owner: k8s.V1ConfigMap): k8s.V1OwnerReference[] => [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: configMap,
      uid: owner.metadata?.uid ?? '',
      controller: true,
      blockOwnerDeletion: false,
    },
  ];
  return {
    configMap,
    origin,
    /**
     * A new router pod's name, `localizer-router-<service>-<random>`: fresh each time, as an
     * earlier router pod may still be terminating under its name.
     */
    podName(): string {
      return `${fitted('localizer-router-', service).slice(0, 50).replace(/-+$/, '')}-${randomBytes(3).toString('hex')}`;
    },
    configMapObject(data: Record<string, string>): k8s.V1ConfigMap {
      return {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: configMap, labels, annotations: { [localizerKeys.service]: service } },
        data,
      };
    },
    /** The Service's own pods behind a Service of their own: where unrouted calls go. */
    originService(
      service: k8s.V1Service,
      selector: Record<string, string>,
      owner: k8s.V1ConfigMap,
    ): k8s.V1Service {
      return {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: origin, labels, ownerReferences: ownedBy(owner) },
        spec: {
          type: 'ClusterIP',
          selector,
          ports: (service.spec?.ports ?? [])
            .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
            .map((p) => ({
              ...(p.name ? { name: p.name } : {}),
              port: p.port,
              protocol: 'TCP',
              ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
              ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
            })),
        },
      };
    },
    routerPod(state: RouterState, owner: k8s.V1ConfigMap): k8s.V1Pod {
      const privilegedPort = state.ports.some((p) => p.listenPort < 1024);
      const service = owner.metadata?.annotations?.[localizerKeys.service] ?? '';
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: state.pod,
          labels: { ...labels, ...interceptSelector(state.session) },
          annotations: { [localizerKeys.owner]: state.createdBy, [localizerKeys.service]: service },
          ownerReferences: ownedBy(owner),
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          securityContext: restrictedPodSecurity(routerImage.uid, { lowPorts: privilegedPort }),
          containers: [
            {
              name: 'haproxy',
              image: routerImageReference(),
              command: ['haproxy', '-db', '-f', `${routerConfigDirectory}/haproxy.cfg`],
              env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
              ports: state.ports.map((p) => ({
                containerPort: p.listenPort,
                protocol: 'TCP',
                ...(p.name ? { name: p.name } : {}),
              })),
              readinessProbe: {
                tcpSocket: { port: state.ports[0]?.listenPort ?? routerAdminPort },
                periodSeconds: 2,
                failureThreshold: 3,
              },
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              securityContext: restrictedContainerSecurity,
              volumeMounts: [{ name: 'config', mountPath: routerConfigDirectory, readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: configMap } }],
        },
      };
    },
  };
}

/** The router's ConfigMap data for a state: the state itself and what HAProxy reads. */
export function routerConfigData(state: RouterState): Record<string, string> {
  return {
    [stateKey]: JSON.stringify(state),
    'haproxy.cfg': renderRouterConfig({
      header: state.header,
      ports: state.ports,
      originAddress: state.originAddress,
      slots: routerSlots,
      routes: state.routes,
    }),
    'routes.map': renderRoutesMap(state.routes),
    'flags.map': '',
  };
}

/** Deletes a router's pod, origin Service and ConfigMap; each may already be gone. */
/**
 * Deletes a router's pod, origin Service and ConfigMap; each may already be gone. Only this
 * router's: the ConfigMap by its UID, the origin Service only while it is owned by that
 * ConfigMap, so a newer router of the same Service (made meanwhile) is never touched.
 */
export async function removeRouterObjects(
  core: k8s.CoreV1Api,
  namespace: string,
  names: RouterObjects,
  router: {
    /** The router pod, when known (a router whose maker died early has none). */
    pod: string | undefined;
    configMapUid: string | undefined;
  },
): Promise<void> {
  const quietly = (error: unknown): void => {
    // Gone already, or (a UID precondition failed) no longer this router's.
    if (errorStatus(error) !== 404 && errorStatus(error) !== 409) throw error;
  };
  const { pod, configMapUid } = router;
  if (pod) await core.deleteNamespacedPod({ namespace, name: pod }).catch(quietly);
  const origin = await core.readNamespacedService({ namespace, name: names.origin }).catch(() => undefined);
  const ownedHere =
    configMapUid === undefined || origin?.metadata?.ownerReferences?.some((ref) => ref.uid === configMapUid);
  if (origin && ownedHere)
    await core
      .deleteNamespacedService({
        namespace,
        name: names.origin,
        body: { preconditions: { uid: origin.metadata?.uid ?? '' } },
      })
      .catch(quietly);
  await core
    .deleteNamespacedConfigMap({
      namespace,
      name: names.configMap,
      ...(configMapUid ? { body: { preconditions: { uid: configMapUid } } } : {}),
    })
    .catch(quietly);
}
