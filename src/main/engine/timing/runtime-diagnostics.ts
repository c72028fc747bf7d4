/**
 * What the engine's own process spends between calls: event-loop delay and garbage-collection
 * pauses, the usual causes of a slow tail in new-connection latency. Off unless asked for
 * (`LOCALIZER_DIAGNOSTICS=1`): the delay histogram samples with a timer, which an idle tray app
 * should not pay for.
 */
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';

export interface RuntimeDiagnosticsSnapshot {
  /** Event-loop delay since the last read, in ms. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Garbage collections since the last read, and their pauses in ms. */
  gc: { count: number; totalMs: number; maxMs: number };
}

export interface RuntimeDiagnostics {
  /** The figures since the last read (or the start); reading starts a new period. */
  read(): RuntimeDiagnosticsSnapshot;
  stop(): void;
}

const round = (value: number): number => Math.round(value * 100) / 100;

export function startRuntimeDiagnostics(): RuntimeDiagnostics {
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    read() {
      const snapshot: RuntimeDiagnosticsSnapshot = {
        eventLoopDelayMs: {
          p50: round(delay.percentile(50) / 1e6),
          p99: round(delay.percentile(99) / 1e6),
          max: round(delay.max / 1e6),
        },
        gc: { count: gc.count, totalMs: round(gc.totalMs), maxMs: round(gc.maxMs) },
      };
      delay.reset();
      gc = { count: 0, totalMs: 0, maxMs: 0 };
      return snapshot;
    },
    stop() {
      delay.disable();
      observer.disconnect();
    },
  };
}
