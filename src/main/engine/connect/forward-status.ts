/**
 * A forward's state and the reason a user reads, as a pure function of what the runtime knows:
 * the plan's skip, its pods, its listeners, the last connection and the relay. Tested as a table
 * (`forward-status.test.ts`); `ForwardRuntime.status()` gathers the facts.
 */
import type { ForwardState } from '../../../shared/tunnel-status';

export interface ForwardFacts {
  /** Why the plan skips the service (nothing of it is forwarded), if it does. */
  skipReason?: string | undefined;
  /** Pods behind the service, and how many of them are ready. */
  endpoints: number;
  ready: number;
  /** It has no pods and is served through the egress relay only. */
  relayOnly: boolean;
  /** Listeners that could not bind, each with why. */
  bindErrors: readonly string[];
  /** The last connection to a pod failed, and none has gone through since. */
  failing: boolean;
  /** The last relayed connection failed. */
  relayFailing: boolean;
  lastError: string | null;
  /** `through the egress relay (pod …): …`, or empty. */
  relayNote: string;
  /** A client that stopped reading holds up others, or empty. */
  slowReaderNote: string;
  /** What the plan says of it (ports it does not carry), or empty. */
  planNote?: string | undefined;
}

export function forwardStatus(facts: ForwardFacts): { status: ForwardState; reason: string } {
  if (facts.skipReason) return { status: 'skipped', reason: facts.skipReason };
  if (facts.ready === 0 && !facts.relayOnly)
    return {
      status: 'waiting',
      reason:
        facts.endpoints === 0
          ? 'no pod matches the selector yet'
          : `no ready pod (${String(facts.endpoints)} not ready)`,
    };
  if (facts.bindErrors.length > 0) return { status: 'failed', reason: facts.bindErrors.join('; ') };
  const lastError = facts.lastError ?? 'unknown error';
  if (facts.failing) return { status: 'reconnecting', reason: `the last connection failed: ${lastError}` };
  if (facts.relayFailing)
    return {
      status: 'failed',
      reason: `${facts.relayNote}; the last connection failed: ${lastError}; the next connection tries again`,
    };
  return {
    status: 'running',
    reason: [facts.relayNote, facts.slowReaderNote, facts.planNote].filter(Boolean).join('; '),
  };
}
