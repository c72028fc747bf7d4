/**
 * An expose is announced only once this Localizer's own forward sends new connections where the
 * cluster now routes the Service: a forward whose watch lags, one that never catches up, and a
 * Service that is not forwarded at all, on a clock that moves only when told.
 */
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../timing/manual-clock';
import { untilForwardFollows, type ForwardFollowOutcome } from './forward-follows-expose';

function slices(...pods: { name: string; ready: boolean }[]): k8s.V1EndpointSliceList {
  return {
    items: [
      {
        addressType: 'IPv4',
        endpoints: pods.map((pod) => ({
          addresses: ['127.0.0.1'],
          conditions: { ready: pod.ready },
          targetRef: { kind: 'Pod', name: pod.name },
        })),
      },
    ],
  };
}

/** The cluster routes web/api to the SSH pod only; the old pods still run, no longer selected. */
const routedToSshPod = slices({ name: 'localizer-api-1', ready: true });

/**
 * Runs the wait while the forward reports `views` (one per look; the last repeats), advancing
 * the clock 20 ms a step; says when it ended, on the clock, and how.
 */
async function follow(
  views: (string[] | undefined)[],
  cluster: k8s.V1EndpointSliceList | Error = routedToSshPod,
): Promise<{ outcome: ForwardFollowOutcome; atMs: number; clusterReads: number }> {
  const clock = new ManualClock();
  let looks = 0;
  let clusterReads = 0;
  const wait = untilForwardFollows({
    engine: { routedPods: () => views[Math.min(looks++, views.length - 1)] },
    discovery: {
      listNamespacedEndpointSlice: (request) => {
        clusterReads++;
        expect(request).toEqual({ namespace: 'web', labelSelector: 'kubernetes.io/service-name=api' });
        return cluster instanceof Error ? Promise.reject(cluster) : Promise.resolve(cluster);
      },
    },
    namespace: 'web',
    service: 'api',
    clock,
    timeoutMs: 5_000,
    pollMs: 20,
  });
  let outcome: ForwardFollowOutcome | undefined;
  void wait.then((value) => (outcome = value));
  await clock.advance(0);
  for (let step = 0; step < 400 && outcome === undefined; step++) await clock.advance(20);
  if (outcome === undefined) throw new Error('the wait did not end within 8 s of its clock');
  return { outcome, atMs: clock.now(), clusterReads };
}

describe('an expose waits for its own forward to follow', () => {
  it('returns once the forward routes to the SSH pod, not while it still knows the old pods', async () => {
    const old = ['api-a', 'api-b'];
    const result = await follow([old, old, old, old, ['localizer-api-1']]);
    expect(result).toEqual({ outcome: 'followed', atMs: 60, clusterReads: 1 });
  });

  it('gives up after the timeout when the forward never follows, so the expose is still announced', async () => {
    const result = await follow([['api-a', 'api-b']]);
    expect(result.outcome).toBe('behind');
    expect(result.atMs).toBeGreaterThanOrEqual(5_000);
    expect(result.atMs).toBeLessThan(5_100);
  });

  it('counts only ready pods the cluster routes to, as the forward does', async () => {
    const withOldNotReady = slices({ name: 'localizer-api-1', ready: true }, { name: 'api-a', ready: false });
    expect((await follow([['localizer-api-1']], withOldNotReady)).outcome).toBe('followed');
  });

  it('asks the cluster nothing when the Service is not forwarded here', async () => {
    expect(await follow([undefined])).toEqual({ outcome: 'followed', atMs: 0, clusterReads: 0 });
  });

  it('does not wait when the cluster cannot be asked', async () => {
    const result = await follow([['api-a']], new Error('connect ECONNREFUSED'));
    expect(result).toEqual({ outcome: 'unread', atMs: 0, clusterReads: 1 });
  });
});
