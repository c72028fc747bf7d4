/**
 * What connect should forward, computed from Services and EndpointSlices alone (a pure function):
 * one plan per Service, plus one per pod that has a hostname under a headless Service (StatefulSet
 * pods), each with its names, ports, ready endpoints, and the reason when it is skipped or waiting.
 */
import type * as k8s from '@kubernetes/client-node';
import type { TunnelPort } from '../../../shared/tunnel-status';
import type { RelayDestination, RelayProtocol } from '../relay/relay-protocol';
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
  /** The ports forwarded to pods: TCP only. */
  tcpPorts: { port: number; name: string }[];
  /** The ports that go through the namespace's egress relay, because no pod port-forward reaches them. */
  relayRoutes: RelayRoute[];
  endpoints: PlannedEndpoint[];
  /** Set when nothing is forwarded, with why. */
  skipReason?: string;
  /** Why some ports are not forwarded, when others are. */
  note?: string;
}

/** A service port carried by the egress relay, to one of its destinations in turn. */
export interface RelayRoute {
  protocol: RelayProtocol;
  port: number;
  name: string;
  destinations: RelayDestination[];
}

export interface PlanOptions {
  clusterDomain: string;
  /** Services in this namespace also get their bare name. */
  bareNamespace: string | undefined;
  includeNamespace: (namespace: string) => boolean;
  /** Whether the egress relay may carry what port-forward cannot (ExternalName, selector-less, UDP). */
  relays: boolean;
}

const relaysOff = 'relays are off (--no-relays)';

/** Addresses a selector-less service's endpoints name that are not pods (a database outside the cluster). */
function outsideAddresses(
  slices: readonly k8s.V1EndpointSlice[],
): { addresses: string[]; ports: Record<string, number> }[] {
  return slices.flatMap((slice) => {
    const ports: Record<string, number> = {};
    for (const port of slice.ports ?? []) if (port.port !== undefined) ports[port.name ?? ''] = port.port;
    const addresses = (slice.endpoints ?? [])
      .filter((e) => e.targetRef?.kind !== 'Pod' && (e.conditions?.ready ?? true))
      .flatMap((e) => e.addresses);
    return addresses.length > 0 ? [{ addresses, ports }] : [];
  });
}

function protocolOf(port: k8s.V1ServicePort): RelayProtocol | undefined {
  const protocol = port.protocol ?? 'TCP';
  return protocol === 'TCP' ? 'tcp' : protocol === 'UDP' ? 'udp' : undefined;
}

/** Where the relay sends a service's own cluster traffic: its cluster IP, or its DNS name when headless. */
function clusterHost(service: k8s.V1Service, clusterDomain: string): string {
  const ip = service.spec?.clusterIP;
  if (ip && ip !== 'None') return ip;
  return `${service.metadata?.name ?? ''}.${service.metadata?.namespace ?? 'default'}.svc.${clusterDomain}`;
}

export function describeRoutes(routes: readonly RelayRoute[]): string {
  return routes
    .map(
      (r) =>
        `${String(r.port)}/${r.protocol} to ${r.destinations.map((d) => `${d.host}:${String(d.port)}`).join(', ')}`,
    )
    .join('; ');
}

type SliceEndpoint = PlannedEndpoint & { hostname?: string };

/** The key of a Service's own forward (not its pods' per-name forwards). */
export function serviceForwardKey(namespace: string, name: string): string {
  return `svc/${namespace}/${name}`;
}

/** The pods a Service's slices route new connections to: its ready endpoints, read as a forward reads them. */
export function readyPodsOf(slices: readonly k8s.V1EndpointSlice[]): string[] {
  return endpointsOf(slices)
    .filter((e) => e.ready)
    .map((e) => e.pod);
}

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
    const key = serviceForwardKey(namespace, name);
    const servicePorts = spec.ports ?? [];
    const carried = servicePorts.filter((p) => protocolOf(p) !== undefined);
    const uncarried = servicePorts.filter((p) => protocolOf(p) === undefined);
    const uncarriedNote =
      uncarried.length > 0
        ? `${uncarried.map((p) => `${p.protocol ?? ''} port ${String(p.port)}`).join(', ')} skipped: only TCP and UDP are carried`
        : undefined;
    const skipped = (skipReason: string): void => {
      plans.push({ ...base, key, name, endpoints: [], relayRoutes: [], skipReason });
    };
    const relayOnly = (
      reason: string,
      destination: (port: k8s.V1ServicePort) => RelayDestination[],
    ): void => {
      const routes = carried.map((p) => ({
        protocol: protocolOf(p) ?? 'tcp',
        port: p.port,
        name: p.name ?? '',
        destinations: destination(p),
      }));
      plans.push({
        ...base,
        key,
        name,
        tcpPorts: [],
        endpoints: [],
        relayRoutes: options.relays ? routes : [],
        ...(options.relays
          ? {}
          : { skipReason: `${reason}, which port-forward cannot reach, and ${relaysOff}` }),
        ...(options.relays && uncarriedNote ? { note: uncarriedNote } : {}),
      });
    };
    if (spec.type === 'ExternalName') {
      const target = spec.externalName ?? '';
      if (carried.length === 0) {
        skipped(
          `ExternalName service for ${target} with no TCP or UDP ports: Localizer forwards the ports a service declares, so add them to spec.ports`,
        );
        continue;
      }
      relayOnly(`ExternalName service: it names ${target} outside the cluster`, (p) => [
        { host: target, port: p.port },
      ]);
      continue;
    }
    const outside = spec.selector ? [] : outsideAddresses(slicesByService.get(`${namespace}/${name}`) ?? []);
    if (!spec.selector && endpoints.length === 0 && outside.length > 0) {
      relayOnly('no selector: its endpoints are addresses, not pods', (p) =>
        outside.flatMap((o) => {
          const port = o.ports[p.name ?? ''];
          return port === undefined ? [] : o.addresses.map((host) => ({ host, port }));
        }),
      );
      continue;
    }
    const udpRoutes: RelayRoute[] = servicePorts
      .filter((p) => protocolOf(p) === 'udp')
      .map((p) => ({
        protocol: 'udp',
        port: p.port,
        name: p.name ?? '',
        destinations: [{ host: clusterHost(service, options.clusterDomain), port: p.port }],
      }));
    if (tcpPorts.length === 0 && udpRoutes.length > 0) {
      relayOnly('UDP only', (p) => [{ host: clusterHost(service, options.clusterDomain), port: p.port }]);
      continue;
    }
    if (tcpPorts.length === 0) {
      skipped('no TCP or UDP ports: only those are carried');
      continue;
    }
    if (!spec.selector && endpoints.length === 0) {
      skipped('no selector and no endpoints, so there is nothing to forward to');
      continue;
    }
    const withUdp = options.relays ? udpRoutes : [];
    const udpSkipped = udpRoutes.map((r) => `UDP port ${String(r.port)}`).join(', ');
    const serviceNote =
      [
        !options.relays && udpRoutes.length > 0 ? `${udpSkipped} skipped: ${relaysOff}` : undefined,
        uncarriedNote,
      ]
        .filter(Boolean)
        .join('; ') || undefined;
    const podNote =
      [
        udpRoutes.length > 0 ? `${udpSkipped} skipped: reach it through the service's name` : undefined,
        uncarriedNote,
      ]
        .filter(Boolean)
        .join('; ') || undefined;
    plans.push({
      ...base,
      key,
      name,
      endpoints: endpoints.map(({ pod, uid, ready, ports: p }) => ({ pod, uid, ready, ports: p })),
      relayRoutes: withUdp,
      ...(serviceNote ? { note: serviceNote } : {}),
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
        relayRoutes: [],
        ...(podNote ? { note: podNote } : {}),
      });
    }
  }
  return plans.sort((a, b) => a.key.localeCompare(b.key));
}
