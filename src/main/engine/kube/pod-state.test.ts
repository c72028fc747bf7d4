/**
 * The one wait both pod keepers use (SSH pods, relay pods): each pod a kubelet could report, in
 * turn, and how the wait ends, on a clock that moves only when told.
 */
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../timing/manual-clock';
import { containerRunning, waitForPod, type PodWaitEnd } from './pod-state';

function pod(state: k8s.V1ContainerState, deleting = false): k8s.V1Pod {
  return {
    metadata: { name: 'p', ...(deleting ? { deletionTimestamp: new Date() } : {}) },
    status: {
      containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: false, restartCount: 0, state }],
    },
  };
}

const pending = pod({ waiting: { reason: 'ContainerCreating' } });
const running = pod({ running: {} });
const pullFailed = pod({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope"' } });

/** Runs the wait over `reads` (one per poll; the last repeats), advancing the clock 100 ms a poll. */
async function waitOver(
  reads: (k8s.V1Pod | undefined)[],
  options: { stopAfterPolls?: number; timeoutMs?: number } = {},
): Promise<{ end: PodWaitEnd; polls: number }> {
  const clock = new ManualClock();
  let polls = 0;
  const wait = waitForPod({
    read: () => Promise.resolve(reads[Math.min(polls++, reads.length - 1)]),
    until: containerRunning,
    isStopping: () => options.stopAfterPolls !== undefined && polls >= options.stopAfterPolls,
    clock,
    timeoutMs: options.timeoutMs ?? 1000,
    pollMs: 100,
  });
  let end: PodWaitEnd | undefined;
  void wait.then((value) => (end = value));
  for (let step = 0; step < 50 && end === undefined; step++) await clock.advance(100);
  if (end === undefined) throw new Error('the wait did not end within 5 s of its clock');
  return { end, polls };
}

describe('waiting for one of our pods', () => {
  it('ends with the pod once its container runs', async () => {
    const { end, polls } = await waitOver([pending, pending, running]);
    expect(end).toEqual({ kind: 'reached', pod: running });
    expect(polls).toBe(3);
  });

  it('ends at once on a reason that will not pass, with what the kubelet said', async () => {
    expect((await waitOver([pending, pullFailed, running])).end).toEqual({
      kind: 'hopeless',
      said: 'ImagePullBackOff: Back-off pulling image "nope"',
    });
  });

  it('ends when the pod is gone, or when its owner stops', async () => {
    expect((await waitOver([pending, undefined])).end).toEqual({ kind: 'gone' });
    expect((await waitOver([pending], { stopAfterPolls: 2 })).end).toEqual({ kind: 'stopped' });
  });

  it('times out saying what the pod last waited for, or that it was never scheduled', async () => {
    expect((await waitOver([pending], { timeoutMs: 500 })).end).toEqual({
      kind: 'timed-out',
      lastSeen: 'ContainerCreating',
    });
    expect((await waitOver([pod({})], { timeoutMs: 500 })).end).toEqual({
      kind: 'timed-out',
      lastSeen: 'it was never scheduled',
    });
  });

  it('does not count a pod being deleted as running', async () => {
    expect((await waitOver([pod({ running: {} }, true)], { timeoutMs: 300 })).end.kind).toBe('timed-out');
  });
});
