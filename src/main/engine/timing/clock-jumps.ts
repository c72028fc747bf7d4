/**
 * Sleep, or a suspended laptop, seen as the wall clock jumping: an interval timer that finds far
 * more time passed than its interval. Whatever held connections across the jump is most likely
 * dead, and the caller starts afresh.
 */

export interface ClockJumpOptions {
  /** How often to look, in ms. */
  intervalMs: number;
  /** The wall clock, injectable so tests can make it jump. */
  now: () => number;
  /** The clock moved `jumpMs` while the timer waited one interval. */
  onJump: (jumpMs: number) => void;
}

/** A jump is this much more than the interval: a busy event loop never lags that long. */
const jumpThresholdMs = 10_000;

/** Starts looking; returns what stops it. */
export function watchClockJumps(options: ClockJumpOptions): () => void {
  let last = options.now();
  const timer = setInterval(() => {
    const now = options.now();
    if (now - last > options.intervalMs + jumpThresholdMs) options.onJump(now - last);
    last = now;
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
