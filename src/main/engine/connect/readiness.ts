/**
 * Whether a connect is done: the forwards of one context counted by state, once the first full
 * list of services has arrived. The engine waits on it, and the instance's status counts with it.
 */
import type { TunnelStatus } from '../../../shared/tunnel-status';

export interface ContextReadiness {
  /** The first full list of services has arrived: before it there is nothing to count. */
  listed: boolean;
  /** Forwards running, out of those not skipped. */
  ready: number;
  total: number;
  /** Forwards whose service has no ready pod: the cluster's to fix, not ours to wait for. */
  waiting: string[];
  /** Forwards that cannot listen (a port taken), with the reason in the list. */
  failed: string[];
  /**
   * Listed, and every forward settled: running, or waiting for a pod, or failed. Connect is
   * done then; what is left is the cluster's doing and shows in the list.
   */
  allReady: boolean;
}

export function readiness(tunnels: readonly TunnelStatus[], listed: boolean): ContextReadiness {
  const forwards = tunnels.filter((t) => t.kind === 'forward' && t.status !== 'skipped');
  const named = (status: TunnelStatus['status']): string[] =>
    forwards.filter((t) => t.status === status).map((t) => `${t.namespace}/${t.name}`);
  const ready = named('running').length;
  const waiting = named('waiting');
  const failed = named('failed');
  return {
    listed,
    ready,
    total: forwards.length,
    waiting,
    failed,
    allReady: listed && ready + waiting.length + failed.length === forwards.length,
  };
}
