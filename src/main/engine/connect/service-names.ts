/**
 * The names a Service answers to from the laptop, as cluster DNS gives them inside a pod:
 *   svc.ns, svc.ns.svc, svc.ns.svc.<domain>, and for pods with a hostname under a headless
 *   service, pod.svc.ns, pod.svc.ns.svc, pod.svc.ns.svc.<domain>.
 * A bare `svc` is added only for services in the context's own namespace (where a pod of that
 * namespace would resolve it), and only if no other connected context claims it too.
 */
import type { HostsEntry } from '../../../shared/helper-protocol';
import { isValidHostname } from '../../../shared/hostnames';
import { ipv4Mapped } from '../../../shared/ipv4-range';
import type { TunnelStatus } from '../../../shared/tunnel-status';

/**
 * The hosts lines for a forward's names. A name ending in `.local` also gets its address as
 * IPv4-mapped IPv6 (`::ffff:127.77.0.5`): macOS sends an IPv6 lookup of a `.local` name that
 * /etc/hosts cannot answer to mDNS, which waits about 5 s. The mapped address reaches the same
 * IPv4 listener, so nothing else is needed (see ARCHITECTURE.md for why not an alias).
 */
export function hostsEntriesFor(ip: string, names: readonly string[]): HostsEntry[] {
  const local = names.filter((name) => name.endsWith('.local'));
  return [{ ip, names }, ...(local.length > 0 ? [{ ip: ipv4Mapped(ip), names: local }] : [])];
}

export function serviceNames(options: {
  name: string;
  namespace: string;
  clusterDomain: string;
  bare: boolean;
}): string[] {
  const { name, namespace, clusterDomain } = options;
  const names = [
    `${name}.${namespace}`,
    `${name}.${namespace}.svc`,
    `${name}.${namespace}.svc.${clusterDomain}`,
  ];
  if (options.bare) names.unshift(name);
  return names.filter(isValidHostname);
}

export function podNames(options: {
  hostname: string;
  service: string;
  namespace: string;
  clusterDomain: string;
}): string[] {
  const { hostname, service, namespace, clusterDomain } = options;
  return [
    `${hostname}.${service}.${namespace}`,
    `${hostname}.${service}.${namespace}.svc`,
    `${hostname}.${service}.${namespace}.svc.${clusterDomain}`,
  ].filter(isValidHostname);
}

/**
 * A forward's status without the names another context holds (`lost`: name to that context), and
 * a reason that says where they went and how to reach this one instead.
 */
export function withoutNamesHeldElsewhere(
  status: TunnelStatus,
  lost: ReadonlyMap<string, string>,
): TunnelStatus {
  const taken = status.hostnames.filter((name) => lost.has(name));
  if (taken.length === 0) return status;
  const holders = [...new Set(taken.map((name) => lost.get(name)))].join(', ');
  const note = `${taken.join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken by context ${holders}; reach it at ${status.ip ?? 'its address'}`;
  return {
    ...status,
    hostnames: status.hostnames.filter((name) => !lost.has(name)),
    reason: status.reason ? `${status.reason}; ${note}` : note,
  };
}
