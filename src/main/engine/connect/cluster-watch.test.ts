import { describe, expect, it } from 'vitest';
import type { InformerHealth } from '../kube/resilient-informer';
import { engineHealth } from './cluster-watch';

const connected: InformerHealth = { state: 'connected' };
const connecting: InformerHealth = { state: 'connecting' };
const lost: InformerHealth = {
  state: 'degraded',
  reason: 'connect ECONNREFUSED 127.0.0.1:6443',
  retryInMs: 1_450,
};
const narrowed =
  'listing services in all namespaces is forbidden for this user, so only namespace web is connected';

describe('the engine health a user sees, from its watches', () => {
  const cases: {
    name: string;
    watches: InformerHealth[];
    stopped: boolean;
    scope: string;
    expected: unknown;
  }[] = [
    {
      name: 'every watch listed',
      watches: [connected, connected],
      stopped: false,
      scope: '',
      expected: { state: 'connected', reason: '' },
    },
    {
      name: 'one still listing',
      watches: [connected, connecting],
      stopped: false,
      scope: '',
      expected: { state: 'connecting', reason: '' },
    },
    {
      name: 'one watch lost: says why and when it retries, rounded to a tenth',
      watches: [connected, lost],
      stopped: false,
      scope: narrowed,
      expected: {
        state: 'degraded',
        reason: 'lost the watch on the cluster (connect ECONNREFUSED 127.0.0.1:6443); retrying in 1.5 s',
      },
    },
    {
      name: 'a narrowed scope is said while connected',
      watches: [connected],
      stopped: false,
      scope: narrowed,
      expected: { state: 'connected', reason: narrowed },
    },
    {
      name: 'a narrowed scope is said while connecting',
      watches: [connecting],
      stopped: false,
      scope: narrowed,
      expected: { state: 'connecting', reason: narrowed },
    },
    {
      name: 'stopped wins over a lost watch',
      watches: [lost],
      stopped: true,
      scope: narrowed,
      expected: { state: 'stopped', reason: '' },
    },
  ];
  for (const { name, watches, stopped, scope, expected } of cases)
    it(name, () => {
      expect(engineHealth(watches, stopped, scope)).toEqual(expected);
    });
});
