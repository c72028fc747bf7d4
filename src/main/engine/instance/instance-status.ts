/**
 * What `localizer list` and `localizer status` answer, read from the instance's connections,
 * exposes and names at one moment.
 */
import type { ConnectionStatus } from '../../../shared/app-state';
import type { InstanceIdentity, InstanceStatus, ListResult } from '../../../shared/control-answers';
import type { PortForwardTransport, TunnelStatus } from '../../../shared/tunnel-status';
import type { KubeContext } from '../kube/kube-context';
import type { RuntimeDiagnostics } from '../timing/runtime-diagnostics';
import { contextStatus, countByStatus } from './connection-status';
import type { Connections } from './connections';

/** `localizer list`: every tunnel, the worst engine health, and the first engine's figures. */
export function listResult(
  connections: Connections,
  tunnels: TunnelStatus[],
  diagnostics: RuntimeDiagnostics | undefined,
): ListResult {
  const engines = [...connections.values()].map((c) => c.engine);
  const first = engines[0];
  const degraded = engines.find((e) => e.health.state !== 'connected');
  return {
    tunnels,
    health: (degraded ?? first)?.health ?? { state: 'connected', reason: '' },
    pid: process.pid,
    ...(first ? { stats: { hostsWrites: first.hostsWrites, timings: first.timings } } : {}),
    ...(diagnostics ? { diagnostics: diagnostics.read() } : {}),
  };
}

export interface StatusParts {
  identity: InstanceIdentity;
  connections: Connections;
  connectionOf: (name: string) => ConnectionStatus | undefined;
  transportOf: (context: KubeContext) => PortForwardTransport | undefined;
  helper: InstanceStatus['helper'];
  tunnels: TunnelStatus[];
  ipRange: string | undefined;
}

/** `localizer status`: each context, the helper, the tunnel counts and each expose's mode and route. */
export function instanceStatus(parts: StatusParts): InstanceStatus {
  const contexts = [...parts.connections.entries()].flatMap(([name, c]) => {
    const status = parts.connectionOf(name);
    return status ? [contextStatus(c.context.server, status, parts.transportOf(c.context))] : [];
  });
  return {
    instance: parts.identity,
    contexts,
    helper: parts.helper,
    counts: countByStatus(parts.tunnels),
    ipRange: parts.ipRange ?? null,
    exposes: parts.tunnels
      .filter((t) => t.kind === 'expose')
      .map(({ context, namespace, name, status, mode, route }) => ({
        context,
        namespace,
        name,
        status,
        ...(mode ? { mode } : {}),
        ...(route ? { route } : {}),
      })),
  };
}
