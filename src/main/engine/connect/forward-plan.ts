/**
 * What connect should forward, computed from Services and EndpointSlices alone (a pure function):
 * one plan per Service, plus one per pod that has a hostname under a headless Service (StatefulSet
 * pods), each with its names, ports, ready endpoints, and the reason when it is skipped or waiting.
 */
import type * as k8s from '@kubernetes/client-node';
import type { TunnelPort } from '../../../shared/tunnel-status';
import { podNames, serviceNames } from './service-names';

export interface PlannedEndpoint {
  pod: string;
  /** The pod's UID: the same name with another UID is another pod. */
  uid: string | undefined;
  ready: boolean;
  /** Pod port for each service port name ('' for an unnamed port). */
  ports: Record<string, number>;
}

export interface ForwardPlan {
  /** Stable identity, also the address book key: `svc/ns/name` or `pod/ns/service/hostname`. */
  key: string;
  namespace: string;
  /** The service name, or `hostname.service` for a pod plan. */
  name: string;
  names: string[];
  ports: TunnelPort[];
  /** The ports that are forwarded: TCP only. */
  tcpPorts: { port: number; name: string }[];
  endpoints: PlannedEndpoint[];
  /** Set when nothing is forwarded, with why. */
  skipReason?: string;
  /** Why some ports are not forwarded, when others are. */
  note?: string;
}

export interface PlanOptions {
  clusterDomain: string;
  /** Services in this namespace also get their bare name. */
  bareNamespace: string | undefined;
  includeNamespace: (namespace: string) => boolean;
}

type SliceEndpoint = PlannedEndpoint & { hostname?: string };

function endpointsOf(slices: readonly k8s.V1EndpointSlice[]): SliceEndpoint[] {
  const result = new Map<string, SliceEndpoint>();
  for (const slice of slices) {
    const ports: Record<string, number> = {};
    for (const port of slice.ports ?? []) if (port.port !== undefined) ports[port.name ?? ''] = port.port;
    for (const endpoint of slice.endpoints ?? []) {
      const pod = endpoint.targetRef?.name;
      if (endpoint.targetRef?.kind !== 'Pod' || !pod) continue;
      const uid = endpoint.targetRef.uid;
      // Two slices can briefly name the same pod: the old incarnation in one, the new in another.
      // Merge only the same incarnation; a new UID replaces the old one.
      const previous = result.get(pod);
      const existing = previous && previous.uid === uid ? previous : undefined;
      if (previous && !existing && !(endpoint.conditions?.ready ?? false) && previous.ready) continue;
      const ready = endpoint.conditions?.ready ?? false;
      result.set(pod, {
        pod,
        uid,
        ready: (existing?.ready ?? false) || ready,
        ...(endpoint.hostname ? { hostname: endpoint.hostname } : {}),
        ports: { ...existing?.ports, ...ports },
      });
    }
  }
  return [...result.values()].sort((a, b) => a.pod.localeCompare(b.pod));
}

export function planForwards(
  services: readonly k8s.V1Service[],
  slices: readonly k8s.V1EndpointSlice[],
  options: PlanOptions,
): ForwardPlan[] {
  const slicesByService = new Map<string, k8s.V1EndpointSlice[]>();
  for (const slice of slices) {
    const service = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (!service) continue;
    const key = `${slice.metadata?.namespace ?? ''}/${service}`;
    slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice]);
  }
  const plans: ForwardPlan[] = [];
  for (const service of services) {
    const namespace = service.metadata?.namespace ?? 'default';
    const name = service.metadata?.name ?? '';
    if (!options.includeNamespace(namespace)) continue;
    const spec = service.spec ?? {};
    const ports: TunnelPort[] = (spec.ports ?? []).map((p) => ({
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      protocol: (p.protocol ?? 'TCP') as TunnelPort['protocol'],
    }));
    const tcpPorts = (spec.ports ?? [])
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => ({ port: p.port, name: p.name ?? '' }));
    const endpoints = endpointsOf(slicesByService.get(`${namespace}/${name}`) ?? []);
    const base = {
      namespace,
      ports,
      tcpPorts,
      names: serviceNames({
        name,
        namespace,
        clusterDomain: options.clusterDomain,
        bare: options.bareNamespace === namespace,
      }),
    };
    const key = `svc/${namespace}/${name}`;
    const nonTcp = ports.filter((p) => p.protocol !== 'TCP');
    const note =
      nonTcp.length > 0
        ? `${nonTcp.map((p) => `${p.protocol} port ${p.port}`).join(', ')} skipped: port-forward carries TCP only`
        : undefined;
    if (spec.type === 'ExternalName') {
      plans.push({
        ...base,
        key,
        name,
        endpoints: [],
        skipReason: `ExternalName service: it resolves to ${spec.externalName ?? 'a name'} outside the cluster`,
      });
      continue;
    }
    if (tcpPorts.length === 0) {
      plans.push({
        ...base,
        key,
        name,
        endpoints: [],
        skipReason: 'no TCP ports: port-forward carries TCP only',
      });
      continue;
    }
    if (!spec.selector && endpoints.length === 0) {
      plans.push({
        ...base,
        key,
        name,
        endpoints: [],
        skipReason: 'no selector and no pod endpoints, so there is no pod to forward to',
      });
      continue;
    }
    plans.push({
      ...base,
      key,
      name,
      endpoints: endpoints.map(({ pod, uid, ready, ports: p }) => ({ pod, uid, ready, ports: p })),
      ...(note ? { note } : {}),
    });
    for (const endpoint of endpoints) {
      if (!endpoint.hostname) continue;
      plans.push({
        key: `pod/${namespace}/${name}/${endpoint.hostname}`,
        namespace,
        name: `${endpoint.hostname}.${name}`,
        names: podNames({
          hostname: endpoint.hostname,
          service: name,
          namespace,
          clusterDomain: options.clusterDomain,
        }),
        ports,
        tcpPorts,
        endpoints: [{ pod: endpoint.pod, uid: endpoint.uid, ready: endpoint.ready, ports: endpoint.ports }],
        ...(note ? { note } : {}),
      });
    }
  }
  return plans.sort((a, b) => a.key.localeCompare(b.key));
}
