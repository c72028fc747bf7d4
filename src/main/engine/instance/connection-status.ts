/**
 * The one place "ready", "degraded" and the counts are computed from an engine's health and its
 * tunnels: the tray, the window, `localizer status` and `connect`'s progress all read these.
 */
import type { ConnectionStatus } from '../../../shared/app-state';
import type { ContextStatus } from '../../../shared/control-answers';
import type { PortForwardTransport, TunnelStatus } from '../../../shared/tunnel-status';
import type { EngineHealth } from '../connect/cluster-watch';
import { readiness } from '../connect/readiness';

export { readiness, type ContextReadiness } from '../connect/readiness';

/** The connection's state as the tray and window show it, from the engine's health and the forwards. */
export function connectionStatus(
  context: string,
  health: EngineHealth,
  tunnels: readonly TunnelStatus[],
  namesEnabled: boolean,
  listed = true,
): ConnectionStatus {
  const { ready, total } = readiness(tunnels, listed);
  const troubled = tunnels.filter((t) => t.status === 'failed' || t.status === 'reconnecting');
  let state: ConnectionStatus['state'];
  let reason = health.reason;
  // Until the first full list there is nothing to count: "0 of 0 ready" would be a lie.
  if (health.state === 'connecting' || !listed) state = 'connecting';
  else if (health.state === 'degraded') state = 'degraded';
  else if (troubled.length > 0) {
    state = 'degraded';
    reason ||= `${String(troubled.length)} tunnel${troubled.length === 1 ? '' : 's'} ${troubled.length === 1 ? 'is' : 'are'} reconnecting or failed`;
  } else state = 'connected';
  return { state, context, reason, ready, total, namesEnabled, apiReachable: health.state !== 'degraded' };
}

/** One context's line in `localizer status`. */
export function contextStatus(
  server: string,
  status: ConnectionStatus,
  transport: PortForwardTransport | undefined,
): ContextStatus {
  const state = status.state === 'disconnected' ? 'error' : status.state;
  return {
    name: status.context ?? '',
    server,
    state,
    reason: status.reason,
    ready: status.ready,
    total: status.total,
    transport: transport ?? null,
  };
}

/** Tunnels by status: `{ running: 12, skipped: 2 }`. */
export function countByStatus(tunnels: readonly TunnelStatus[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const tunnel of tunnels) counts[tunnel.status] = (counts[tunnel.status] ?? 0) + 1;
  return counts;
}
