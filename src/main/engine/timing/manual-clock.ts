/**
 * A clock that moves only when told: tests drive a stop sequence or a backoff through it in
 * microseconds, and see exactly when each step would have run.
 */
import type { Clock } from './clock';

interface Timer {
  at: number;
  order: number;
  callback: () => void;
}

export class ManualClock implements Clock {
  private current: number;
  private readonly timers = new Set<Timer>();
  private order = 0;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer: Timer = { at: this.current + Math.max(0, ms), order: this.order++, callback };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as Timer);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Timers waiting, soonest first: what the code under test is waiting for. */
  pending(): number[] {
    return [...this.timers].map((t) => t.at - this.current).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running each timer due on the way, and what its promises then do. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = [...this.timers]
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!next) break;
      this.timers.delete(next);
      this.current = next.at;
      next.callback();
      await settle();
    }
    this.current = target;
  }
}

/** Lets every promise chain that is ready to run, run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) await new Promise<void>((resolve) => setImmediate(resolve));
}
