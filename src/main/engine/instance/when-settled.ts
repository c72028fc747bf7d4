/**
 * Waiting for a connect to settle: every forward of the asked contexts running, waiting for a pod
 * the cluster has not made ready, or failed with a reason, and the names written; with progress
 * ("3 of 12 services ready") as it goes.
 */
import type { ContextReadiness } from '../connect/readiness';
import { InstanceRefusedError } from './instance-refusal';
import type { Settled } from './instance-requests';

export interface SettleWatch {
  /** Where changes are announced (the instance's `change` event). */
  changes: {
    on(event: 'change', listener: () => void): unknown;
    off(event: 'change', listener: () => void): unknown;
  };
  /** Each asked context's readiness now; undefined for one that was disconnected meanwhile. */
  read: () => (ContextReadiness | undefined)[];
  /** Resolves once the names are in /etc/hosts. */
  flushNames: () => Promise<void>;
  progress: (message: string) => void;
}

export function whenSettled(watch: SettleWatch): Promise<Settled> {
  return new Promise((resolve, reject) => {
    let last = '';
    const check = (): void => {
      const states = watch.read();
      if (states.some((s) => s === undefined)) {
        watch.changes.off('change', check);
        reject(
          new InstanceRefusedError(
            'The context was disconnected (`localizer disconnect`, Quit, or Disconnect in the tray) before its forwards were ready; connect again if you still want it.',
          ),
        );
        return;
      }
      const listed = states.every((s) => s?.listed);
      const ready = states.reduce((sum, s) => sum + (s?.ready ?? 0), 0);
      const total = states.reduce((sum, s) => sum + (s?.total ?? 0), 0);
      const line = `${String(ready)} of ${String(total)} services ready`;
      if (listed && line !== last) {
        last = line;
        watch.progress(line);
      }
      if (states.every((s) => s?.allReady)) {
        watch.changes.off('change', check);
        const settled: Settled = {
          waiting: states.flatMap((s) => s?.waiting ?? []),
          failed: states.flatMap((s) => s?.failed ?? []),
        };
        // Say "ready" only once the names are in /etc/hosts too.
        void watch.flushNames().then(() => resolve(settled));
      }
    };
    watch.changes.on('change', check);
    check();
  });
}
