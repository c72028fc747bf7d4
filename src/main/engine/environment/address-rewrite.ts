/**
 * In-cluster addresses in a workload's environment, rewritten to the ones Localizer's connect
 * gives each service on this machine: a service's cluster IP, and its names (`api`,
 * `api.web`, `api.web.svc`, `api.web.svc.cluster.local`) wherever they stand as a host.
 */
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { ResolvedVariable } from './container-environment';

export interface Rewrite {
  name: string;
  /** What the host was, and what it is now: `api.web.svc.cluster.local -> 127.77.0.10`. */
  change: string;
}

interface Target {
  hosts: string[];
  ip: string;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Each forward of the context that has an address, with the names it answers to from a pod in
 * `namespace`, longest first so `api.web.svc.cluster.local` is not rewritten as `api.web`.
 */
function targets(
  tunnels: readonly TunnelStatus[],
  clusterIps: ReadonlyMap<string, string>,
  namespace: string,
  clusterDomain: string,
): Target[] {
  return tunnels.flatMap((t) => {
    if (t.kind !== 'forward' || !t.ip || t.status === 'skipped') return [];
    const base = `${t.name}.${t.namespace}`;
    const hosts = [`${base}.svc.${clusterDomain}`, `${base}.svc`, base];
    if (t.namespace === namespace) hosts.push(t.name);
    const clusterIp = clusterIps.get(`${t.namespace}/${t.name}`);
    if (clusterIp) hosts.push(clusterIp);
    return [{ hosts, ip: t.ip }];
  });
}

/**
 * Rewrites each variable's in-cluster hosts. A host counts where it stands alone, after `//` or
 * `@`, or before `:port` or a path, never inside a longer name.
 */
export function rewriteAddresses(
  variables: readonly ResolvedVariable[],
  options: {
    tunnels: readonly TunnelStatus[];
    /** `namespace/name` to cluster IP, for values that name the IP itself. */
    clusterIps: ReadonlyMap<string, string>;
    namespace: string;
    clusterDomain: string;
  },
): { variables: ResolvedVariable[]; rewrites: Rewrite[] } {
  const all = targets(options.tunnels, options.clusterIps, options.namespace, options.clusterDomain);
  const hosts = all
    .flatMap((target) => target.hosts.map((host) => ({ host, ip: target.ip })))
    .sort((a, b) => b.host.length - a.host.length);
  if (hosts.length === 0) return { variables: [...variables], rewrites: [] };
  const byHost = new Map(hosts.map((h) => [h.host, h.ip]));
  const pattern = new RegExp(
    `(?<![A-Za-z0-9._-])(${hosts.map((h) => escape(h.host)).join('|')})(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])`,
    'g',
  );
  const rewrites: Rewrite[] = [];
  const rewritten = variables.map((variable) => {
    const changes: string[] = [];
    const value = variable.value.replace(pattern, (host: string) => {
      const ip = byHost.get(host) ?? host;
      // A bare word is a host only as the whole value, or as `host:port` or `scheme://host`.
      if (!host.includes('.') && !/^\d/.test(host)) {
        const whole = variable.value === host;
        const asHost = new RegExp(`(^|//|@)${escape(host)}(:\\d+|/|$)`).test(variable.value);
        if (!whole && !asHost) return host;
      }
      changes.push(`${host} -> ${ip}`);
      return ip;
    });
    if (changes.length === 0) return variable;
    rewrites.push({ name: variable.name, change: [...new Set(changes)].join(', ') });
    return { ...variable, value };
  });
  return { variables: rewritten, rewrites };
}
