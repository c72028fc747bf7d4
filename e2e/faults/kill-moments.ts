/**
 * When the fault suite kills a process: random moments, printed with each figure, so a failing
 * run can be replayed exactly with LOCALIZER_FAULT_DELAYS=ms,ms,… (in the order they were used).
 */
import { pollUntil } from '../support/poll';

/** `count` kill delays in [0, `maxMs`), or the replayed ones from `offset` on. */
export function killDelays(count: number, maxMs: number, offset = 0): number[] {
  const given = (process.env.LOCALIZER_FAULT_DELAYS ?? '').split(',').filter(Boolean).map(Number);
  if (given.length > 0) return given.slice(offset, offset + count);
  return Array.from({ length: count }, () => Math.floor(Math.random() * maxMs));
}

/** Waits until `delayMs` after `since`, or until `sooner()` holds, whichever comes first. */
export function untilKillMoment(
  since: number,
  delayMs: number,
  sooner: () => boolean = () => false,
): Promise<void> {
  return pollUntil(() => Date.now() - since >= delayMs || sooner(), delayMs + 10_000, 'the moment to kill');
}
