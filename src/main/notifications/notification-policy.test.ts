/** When Localizer interrupts the user, and with what. */
import { describe, expect, it } from 'vitest';
import { disconnected, type AppState } from '../../shared/app-state';
import type { TunnelStatus } from '../../shared/tunnel-status';
import { emptyMemory, notificationPolicy, type PolicyMemory } from './notification-policy';

function tunnel(namespace: string, name: string, status: TunnelStatus['status'], reason = ''): TunnelStatus {
  return {
    context: 'dev',
    kind: 'forward',
    namespace,
    name,
    status,
    reason,
    endpoint: null,
    ip: null,
    hostnames: [],
    ports: [],
    counters: { connections: 0, activeConnections: 0, bytesIn: 0, bytesOut: 0, reconnects: 0 },
    lastError: null,
    lastChange: '2026-11-25T00:00:00Z',
  };
}

function state(tunnels: TunnelStatus[], apiReachable = true): AppState {
  return {
    contexts: [],
    selectedContext: 'dev',
    kubeconfigProblem: null,
    connection: {
      ...disconnected,
      state: 'connected',
      context: 'dev',
      apiReachable,
      reason: apiReachable ? '' : 'watch failed: ECONNREFUSED',
    },
    tunnels,
    exposing: null,
    cleanup: null,
    exposeEnded: null,
    projects: [],
  };
}

/** Feeds states in order, as the app does, and collects every notification title. */
function run(
  states: AppState[],
  times: number[],
  enabled = true,
): { titles: string[]; memory: PolicyMemory } {
  let memory = emptyMemory;
  const titles: string[] = [];
  for (let i = 1; i < states.length; i++) {
    const result = notificationPolicy({
      previous: states[i - 1] as AppState,
      next: states[i] as AppState,
      now: times[i] ?? 0,
      memory,
      enabled,
    });
    memory = result.memory;
    titles.push(...result.intents.map((intent) => intent.title));
  }
  return { titles, memory };
}

describe('notifications', () => {
  it('announce a drop with its reason and target, then its recovery', () => {
    const up = state([tunnel('web', 'api', 'running')]);
    const down = state([tunnel('web', 'api', 'waiting', 'no ready pods')]);
    const first = notificationPolicy({
      previous: up,
      next: down,
      now: 0,
      memory: emptyMemory,
      enabled: true,
    });
    expect(first.intents).toEqual([
      { title: 'web/api dropped', body: 'no ready pods', target: { namespace: 'web', name: 'api' } },
    ]);
    expect(run([up, down, up], [0, 0, 5_000]).titles).toEqual(['web/api dropped', 'web/api recovered']);
  });

  it('coalesce drops in one namespace into one notification', () => {
    const names = ['a', 'b', 'c'];
    const up = state([...names.map((n) => tunnel('web', n, 'running')), tunnel('data', 'kv', 'running')]);
    const down = state([
      ...names.map((n) => tunnel('web', n, 'reconnecting')),
      tunnel('data', 'kv', 'running'),
    ]);
    const result = notificationPolicy({
      previous: up,
      next: down,
      now: 0,
      memory: emptyMemory,
      enabled: true,
    });
    expect(result.intents).toEqual([
      {
        title: '3 tunnels in namespace web dropped',
        body: 'a, b, c',
        target: { namespace: 'web', name: 'a' },
      },
    ]);
  });

  it('hold back a flapping tunnel for a minute, and announce no recovery for a drop it did not announce', () => {
    const up = state([tunnel('web', 'api', 'running')]);
    const down = state([tunnel('web', 'api', 'reconnecting')]);
    const flapping = run([up, down, up, down, up, down], [0, 0, 1_000, 2_000, 3_000, 61_000]);
    expect(flapping.titles).toEqual(['web/api dropped', 'web/api recovered', 'web/api dropped']);
  });

  it('say once that the cluster is unreachable instead of once per tunnel, and when it is back', () => {
    const up = state([tunnel('web', 'api', 'running'), tunnel('web', 'frontend', 'running')]);
    const lost = state(
      [tunnel('web', 'api', 'reconnecting'), tunnel('web', 'frontend', 'reconnecting')],
      false,
    );
    expect(run([up, lost, lost, up], [0, 1, 2, 3]).titles).toEqual([
      'Lost contact with dev',
      'Back in contact with dev',
    ]);
  });

  it('stay silent when switched off, and announce no recovery of a drop the user never heard of', () => {
    const up = state([tunnel('web', 'api', 'running')]);
    const down = state([tunnel('web', 'api', 'reconnecting')]);
    const silent = run([up, down], [0, 0], false);
    expect(silent.titles).toEqual([]);
    const later = notificationPolicy({
      previous: down,
      next: up,
      now: 10_000,
      memory: silent.memory,
      enabled: true,
    });
    expect(later.intents).toEqual([]);
  });

  it('say once what was put back after an earlier run was killed', () => {
    const before = state([]);
    const cleaned: AppState = {
      ...before,
      cleanup: {
        id: 1,
        context: 'dev',
        done: ['restored Deployment web/api to 2 replicas', 'deleted SSH pod web/localizer-api-1a2b'],
        failed: [],
        skipped: [],
      },
    };
    const first = notificationPolicy({
      previous: before,
      next: cleaned,
      now: 0,
      memory: emptyMemory,
      enabled: true,
    });
    expect(first.intents).toEqual([
      {
        title: 'Localizer cleaned up after its last run in dev',
        body: 'restored Deployment web/api to 2 replicas; deleted SSH pod web/localizer-api-1a2b',
        target: null,
      },
    ]);
    // Later states carry the same notice: it is not announced again.
    expect(run([before, cleaned, { ...cleaned, tunnels: [] }], [0, 0, 1]).titles).toHaveLength(1);
  });

  it('say once why an expose ended by itself, since it leaves the list without a word otherwise', () => {
    const before = state([]);
    const reason =
      'Ended: the selector of web/api was changed while this expose held it (now app=api, by argocd at 10:02:11). Localizer left that change as it is.';
    const notice = { id: 1, context: 'dev', namespace: 'web', service: 'api', reason };
    const ended: AppState = { ...before, exposeEnded: notice };
    expect(
      notificationPolicy({ previous: before, next: ended, now: 0, memory: emptyMemory, enabled: true })
        .intents,
    ).toEqual([{ title: 'web/api is no longer exposed', body: reason, target: null }]);
    expect(run([before, ended, { ...ended, tunnels: [] }], [0, 0, 1]).titles).toHaveLength(1);
    const again = { ...ended, exposeEnded: { ...notice, id: 2 } };
    expect(run([before, ended, again], [0, 0, 1]).titles, 'a second ending is a second notice').toHaveLength(
      2,
    );
  });
});
