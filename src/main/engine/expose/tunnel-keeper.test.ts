/**
 * The tunnel keeper's pacing on an injected clock: a closed tunnel is opened again after a
 * capped, jittered backoff that grows with each failure and resets on success, and a stopped
 * keeper tries nothing more.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../timing/manual-clock';
import type { ReverseTunnel } from './reverse-tunnel';
import { TunnelKeeper } from './tunnel-keeper';

/** Stands for an open tunnel: the keeper only listens to it and closes it. */
class FakeTunnel extends EventEmitter<{ closed: [Error | undefined]; localProblem: [string | null] }> {
  closed = false;
  close(): void {
    this.closed = true;
  }
}

function keeperWith(outcomes: ('ok' | 'fail')[]) {
  const clock = new ManualClock();
  const states: string[] = [];
  const attemptsAt: number[] = [];
  const opened: FakeTunnel[] = [];
  const keeper = new TunnelKeeper({
    clock,
    random: () => 1, // the top of each jitter range, so delays are exact
    reopen: () => {
      attemptsAt.push(clock.now());
      const outcome = outcomes.shift() ?? 'ok';
      if (outcome === 'fail') return Promise.reject(new Error('sshd did not answer'));
      const tunnel = new FakeTunnel();
      opened.push(tunnel);
      return Promise.resolve(tunnel as unknown as ReverseTunnel);
    },
    onState: (state, reason) => states.push(`${state}: ${reason}`),
    onLocalProblem: () => undefined,
  });
  const first = new FakeTunnel();
  keeper.adopt(first as unknown as ReverseTunnel);
  return { clock, keeper, states, attemptsAt, opened, first };
}

describe('keeping a tunnel up', () => {
  it('retries after 0.5, 1, 2, 4 s… capped at 15 s, and starts again from 0.5 s after a success', async () => {
    const { clock, keeper, states, attemptsAt, opened, first } = keeperWith([
      'fail',
      'fail',
      'fail',
      'fail',
      'fail',
      'fail',
      'ok',
    ]);
    first.emit('closed', new Error('keepalive timeout'));
    expect(states).toEqual(['reconnecting: the tunnel closed: keepalive timeout; reconnecting']);
    await clock.advance(60_000);
    const gaps = attemptsAt.map((at, i) => at - (attemptsAt[i - 1] ?? 0));
    expect(gaps).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
    expect(states.at(-1)).toBe('running: ');
    expect(keeper.reconnects).toBe(7);

    attemptsAt.length = 0;
    const closedAt = clock.now();
    opened.at(-1)?.emit('closed', undefined);
    await clock.advance(500);
    expect(attemptsAt).toEqual([closedAt + 500]);
  });

  it('spreads retries over the upper half of each backoff', () => {
    const { keeper } = keeperWith([]);
    const delays = Array.from({ length: 200 }, () => keeper.delayFor(3));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(4000);
  });

  it('tries nothing once stopped', async () => {
    const { clock, keeper, attemptsAt, first } = keeperWith(['ok']);
    first.emit('closed', undefined);
    await keeper.stop();
    await clock.advance(60_000);
    expect(attemptsAt).toEqual([]);
    expect(clock.pending()).toEqual([]);
  });
});
