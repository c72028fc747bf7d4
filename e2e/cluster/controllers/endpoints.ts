/**
 * The endpoints and EndpointSlice controllers: for each Service with a selector, the matching
 * pods' addresses with readiness, named target ports resolved per pod, and per-pod hostnames for
 * pods whose subdomain is the service (StatefulSets behind a headless service).
 */
import { field, type KubeObject, type Pod, type Service } from '../api/objects';
import type { Registry } from '../api/registry';
import { resourceTypeOfKind } from '../api/resources';
import { mapSelectorMatches } from '../api/selectors';
import type { ObjectStore } from '../api/store';
import { createControllerLoop, type Controller } from './controller-loop';
import { isReady, podReadyCondition } from './workloads';

const pods = resourceTypeOfKind('Pod');
const services = resourceTypeOfKind('Service');
const endpoints = resourceTypeOfKind('Endpoints');
const slices = resourceTypeOfKind('EndpointSlice');
const serviceNameLabel = 'kubernetes.io/service-name';
const managedBy = 'endpointslice-controller.k8s.io';

interface ResolvedPort {
  name?: string;
  port: number;
  protocol: string;
}

/** The ports a pod serves for a service: a named targetPort resolves through the pod's containers. */
function resolvePorts(service: Service, pod: Pod): ResolvedPort[] | undefined {
  const resolved: ResolvedPort[] = [];
  for (const port of service.spec.ports ?? []) {
    const target = port.targetPort ?? port.port;
    let number: number | undefined;
    if (typeof target === 'number') number = target;
    else if (/^\d+$/.test(target)) number = Number(target);
    else {
      number = pod.spec.containers
        .flatMap((c) => c.ports ?? [])
        .find((p) => p.name === target)?.containerPort;
    }
    if (number === undefined) continue;
    resolved.push({
      ...(port.name ? { name: port.name } : {}),
      port: number,
      protocol: port.protocol ?? 'TCP',
    });
  }
  return resolved.length > 0 ? resolved : undefined;
}

function portsKey(ports: ResolvedPort[]): string {
  return JSON.stringify(ports);
}

function reconcile(store: ObjectStore, registry: Registry): void {
  const serviceList = store.list(services) as Service[];
  const serviceKeys = new Set(
    serviceList.map((s) => `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`),
  );
  for (const service of serviceList) {
    if (!service.spec.selector || Object.keys(service.spec.selector).length === 0) continue;
    if (service.spec.type === 'ExternalName') continue;
    const namespace = service.metadata.namespace;
    const members = (store.list(pods, namespace) as Pod[]).filter(
      (pod) =>
        mapSelectorMatches(service.spec.selector, pod.metadata.labels) &&
        typeof field(pod, 'status', 'podIP') === 'string',
    );
    const groups = new Map<string, { ports: ResolvedPort[]; pods: Pod[] }>();
    for (const pod of members) {
      const ports = resolvePorts(service, pod);
      if (!ports) continue;
      const key = portsKey(ports);
      const group = groups.get(key) ?? { ports, pods: [] };
      group.pods.push(pod);
      groups.set(key, group);
    }
    writeEndpoints(store, registry, service, [...groups.values()]);
    writeSlices(store, registry, service, [...groups.values()]);
  }
  for (const object of store.list(endpoints)) {
    if (!serviceKeys.has(`${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`)) {
      registry.delete(endpoints, object.metadata.namespace, object.metadata.name ?? '');
    }
  }
}

function podAddress(pod: Pod, service: Service): Record<string, unknown> {
  const hostname =
    pod.spec.hostname && pod.spec.subdomain === service.metadata.name ? pod.spec.hostname : undefined;
  return {
    ip: field(pod, 'status', 'podIP'),
    ...(hostname ? { hostname } : {}),
    nodeName: pod.spec.nodeName,
    targetRef: {
      kind: 'Pod',
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      uid: pod.metadata.uid,
    },
  };
}

function writeEndpoints(
  store: ObjectStore,
  registry: Registry,
  service: Service,
  groups: { ports: ResolvedPort[]; pods: Pod[] }[],
): void {
  const subsets = groups
    .map((group) => {
      const ready = group.pods.filter(isReady).map((pod) => podAddress(pod, service));
      const notReady = group.pods.filter((pod) => !isReady(pod)).map((pod) => podAddress(pod, service));
      return {
        ...(ready.length > 0 ? { addresses: ready } : {}),
        ...(notReady.length > 0 ? { notReadyAddresses: notReady } : {}),
        ports: group.ports,
      };
    })
    .filter((subset) => subset.addresses ?? subset.notReadyAddresses);
  const namespace = service.metadata.namespace;
  const name = service.metadata.name ?? '';
  const existing = store.get(endpoints, namespace, name);
  const body: KubeObject = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { ...existing?.metadata, name, namespace, labels: { ...service.metadata.labels } },
    ...(subsets.length > 0 ? { subsets } : {}),
  };
  if (!existing) registry.create(endpoints, namespace, body);
  else store.update(endpoints, body);
}

function writeSlices(
  store: ObjectStore,
  registry: Registry,
  service: Service,
  groups: { ports: ResolvedPort[]; pods: Pod[] }[],
): void {
  const namespace = service.metadata.namespace;
  const name = service.metadata.name ?? '';
  const existing = store
    .list(slices, namespace)
    .filter((slice) => slice.metadata.labels?.[serviceNameLabel] === name)
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const wanted = groups.length > 0 ? groups : [{ ports: [] as ResolvedPort[], pods: [] as Pod[] }];
  wanted.forEach((group, index) => {
    const body: KubeObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        ...existing[index]?.metadata,
        namespace,
        labels: {
          ...service.metadata.labels,
          [serviceNameLabel]: name,
          'endpointslice.kubernetes.io/managed-by': managedBy,
        },
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            name,
            uid: service.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      addressType: 'IPv4',
      endpoints: group.pods.map((pod) => {
        const address = podAddress(pod, service);
        const terminating = Boolean(pod.metadata.deletionTimestamp);
        return {
          addresses: [address.ip],
          conditions: { ready: isReady(pod), serving: podReadyCondition(pod), terminating },
          ...(address.hostname ? { hostname: address.hostname } : {}),
          targetRef: address.targetRef,
          nodeName: address.nodeName,
        };
      }),
      ports: group.ports,
    };
    const current = existing[index];
    if (current) {
      body.metadata.name = current.metadata.name;
      store.update(slices, body);
    } else {
      body.metadata.generateName = `${name}-`;
      delete body.metadata.name;
      registry.create(slices, namespace, body);
    }
  });
  for (const extra of existing.slice(wanted.length))
    registry.delete(slices, namespace, extra.metadata.name ?? '');
}

export function createEndpointsController(
  store: ObjectStore,
  registry: Registry,
  log: (m: string) => void,
): Controller {
  return createControllerLoop(store, ['Service', 'Pod'], () => reconcile(store, registry), log);
}
