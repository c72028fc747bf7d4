/**
 * The engine's one retry pacing: capped exponential backoff, with optional "half jitter" (a
 * delay between half and all of the ceiling) so many clients retrying at once spread out.
 */
export interface BackoffOptions {
  /** The first delay's ceiling, in ms. */
  minMs: number;
  /** No delay exceeds this, in ms. */
  maxMs: number;
  /** Spread each delay over [ceiling/2, ceiling]; without it the delay is the ceiling. */
  jitter?: boolean;
  random?: () => number;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** Math.max(0, attempt));
  if (!options.jitter) return ceiling;
  return Math.round(ceiling / 2 + (ceiling / 2) * (options.random ?? Math.random)());
}
