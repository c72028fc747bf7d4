/**
 * The faults users cause every day, under steady load through `localizer connect` (the CLI, as a
 * user runs it): a pod deleted, a container killed, a StatefulSet pod replaced under the same
 * name, every endpoint gone and back, the API server restarted. Each case counts the calls that
 * failed later than 1 s after the replacement was Ready (target 0) and how long it took from
 * Ready to the first good call; the figures are printed as a table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../cluster/api/objects';
import { field } from '../cluster/api/objects';
import { resourceTypeOfKind } from '../cluster/api/resources';
import { images, service, statefulSet } from '../cluster/scenarios/builders';
import { startTestCluster, type TestCluster } from '../cluster/test-cluster';
import { takeLocalizerRange } from '../support/address-ranges';
import { pollUntil } from '../support/poll';
import { run } from '../support/processes';
import { printFigures, type FaultFigures } from './fault-figures';
import { startSteadyLoad, type CallOutcome, type SteadyLoad } from './steady-load';
import { portForwardTransports } from '../../src/shared/tunnel-status';
import { builtCli } from '../support/built-localizer';

/** The built CLI in one node process, as an installed `localizer` runs. */
const localizer = (args: string[]): [string, string[]] => [process.execPath, [builtCli, ...args]];
const pods = resourceTypeOfKind('Pod');
/** A call may fail while the replacement is not yet reachable, but not later than this after it is Ready. */
const graceAfterReadyMs = 1000;

let cluster: TestCluster;
let connect: ChildProcess;
let connectOutput = '';
const state = mkdtempSync(join(tmpdir(), 'faults-state-'));
const range = takeLocalizerRange();
const figures: FaultFigures[] = [];
/** Every call of each case, by case name, for figures a case adds after the load. */
const loadsOf = new Map<string, CallOutcome[]>();

interface Listed {
  namespace: string;
  name: string;
  ip: string | null;
  status: string;
  reason: string;
  counters: { stalls?: number; failures?: number };
}

async function listed(): Promise<Listed[]> {
  const result = await run(...localizer(['list', '--json']), { env: { LOCALIZER_STATE_DIR: state } });
  return JSON.parse(result.stdout || '[]') as Listed[];
}

async function addressOf(namespace: string, name: string): Promise<string> {
  let ip: string | null | undefined;
  await expect
    .poll(
      async () => {
        const listed = await run(...localizer(['list', '--json']), { env: { LOCALIZER_STATE_DIR: state } });
        const tunnels = JSON.parse(listed.stdout || '[]') as Listed[];
        const tunnel = tunnels.find((t) => t.namespace === namespace && t.name === name);
        ip = tunnel?.ip;
        return tunnel?.status;
      },
      { timeout: 20_000, message: `${namespace}/${name} should be running in localizer list` },
    )
    .toBe('running');
  if (!ip) throw new Error(`${namespace}/${name} has no address`);
  return ip;
}

/** A target's status in `localizer list`, by its label (`svc.ns` or `pod.svc.ns`). */
async function statusOf(label: string): Promise<string | undefined> {
  const [name = '', ...rest] = label.split('.');
  const namespace = rest.at(-1) ?? '';
  const forward = rest.length > 1 ? `${name}.${rest[0] ?? ''}` : name;
  const listed = await run(...localizer(['list', '--json']), { env: { LOCALIZER_STATE_DIR: state } });
  const tunnels = JSON.parse(listed.stdout || '[]') as Listed[];
  return tunnels.find((t) => t.namespace === namespace && t.name === forward)?.status;
}

function isReadyPod(pod: KubeObject | undefined): boolean {
  const conditions = (field(pod ?? { metadata: {} }, 'status', 'conditions') ?? []) as {
    type: string;
    status: string;
  }[];
  return (
    !pod?.metadata.deletionTimestamp && conditions.some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

function podOf(namespace: string, name: string): KubeObject | undefined {
  return cluster.store.get(pods, namespace, name);
}

/** Polls every 20 ms until `name` is Ready with a UID other than `oldUid` (or the same, once it restarted). */
async function readyAgain(
  namespace: string,
  name: string,
  accept: (pod: KubeObject) => boolean,
): Promise<number> {
  await pollUntil(
    () => {
      const pod = podOf(namespace, name);
      return pod !== undefined && accept(pod) && isReadyPod(pod);
    },
    60_000,
    `${namespace}/${name} to be Ready again`,
  );
  return Date.now();
}

/** Runs a fault under load on each target and checks what a user would have seen. */
async function underLoad(
  caseName: string,
  targets: { label: string; ip: string; port: number; pod?: string }[],
  fault: () => Promise<number>,
): Promise<void> {
  const loads: [(typeof targets)[number], SteadyLoad][] = targets.map((t) => [
    t,
    startSteadyLoad(t.ip, t.port),
  ]);
  // A few good calls first, so a broken forward is not mistaken for the fault's effect.
  await pollUntil(
    () => loads.every(([, load]) => load.outcomes.filter((o) => o.ok).length >= 3),
    15_000,
    `good calls on ${targets.map((t) => t.label).join(', ')} before the fault`,
  );
  const readyAt = await fault();
  // Keep calling for 4 s after the replacement is Ready: the window where the old bug showed.
  await pollUntil(() => Date.now() > readyAt + 4000, 10_000, 'the load to run on after the fault');
  await Promise.all(loads.map(([, load]) => load.stop()));
  loadsOf.set(
    caseName,
    loads.flatMap(([, load]) => load.outcomes),
  );
  for (const [target, load] of loads) {
    const late = load.failuresSince(readyAt + graceAfterReadyMs);
    // And the list says so: a forward that works again is 'running', with no caller needed.
    await expect
      .poll(async () => statusOf(target.label), {
        timeout: 5000,
        message: `${caseName}: ${target.label} should be running again in localizer list`,
      })
      .toBe('running');
    const first = load.firstSuccessSince(readyAt, target.pod);
    figures.push({
      case: caseName,
      via: target.label,
      calls: load.outcomes.length,
      'failed, total': load.outcomes.filter((o) => !o.ok).length,
      'failed > 1 s after Ready': late.length,
      'Ready → first good call (ms)': first ? Math.max(0, first.at - readyAt) : 'never',
    });
    expect(
      late.map((o) => `${new Date(o.at).toISOString()} ${o.error ?? ''}`),
      `${caseName}, via ${target.label}: calls that failed later than ${String(graceAfterReadyMs)} ms after the replacement was Ready (connect said: ${connectOutput.slice(-500)})`,
    ).toEqual([]);
    expect(
      first,
      `${caseName}, via ${target.label}: a good call after the replacement was Ready`,
    ).toBeDefined();
  }
}

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  // A single-replica StatefulSet, like a typical postgres-0: its only pod is the only way in.
  cluster.registry.create(resourceTypeOfKind('StatefulSet'), 'data', {
    ...statefulSet('solo', {
      replicas: 1,
      image: images.http,
      ports: [{ name: 'db', containerPort: 5432 }],
      serviceName: 'solo',
    }),
  });
  cluster.registry.create(resourceTypeOfKind('Service'), 'data', {
    ...service('solo', {
      selector: { app: 'solo' },
      headless: true,
      ports: [{ name: 'db', port: 5432, targetPort: 'db' }],
    }),
  });
  await cluster.waitForWorkloads();
  connect = spawn(
    ...localizer(['connect', '--kubeconfig', cluster.kubeconfigPath, '--no-names', '--ip-range', range.cidr]),
    {
      env: { ...process.env, LOCALIZER_STATE_DIR: state },
    },
  );
  connect.stdout?.on('data', (chunk: Buffer) => (connectOutput += chunk.toString()));
  connect.stderr?.on('data', (chunk: Buffer) => (connectOutput += chunk.toString()));
  await pollUntil(() => connectOutput.includes('Connected'), 30_000, 'connect to say it is connected');
});

afterAll(async () => {
  printFigures('Pod faults under steady load (one call every 100 ms, a new connection each)', figures);
  if (connect.exitCode === null) {
    const exited = new Promise((resolve) => connect.once('exit', resolve));
    connect.kill('SIGINT');
    await exited;
  }
  await cluster.stop();
  range.release();
});

describe('pod faults under steady load', () => {
  it('a StatefulSet pod replaced under the same name (kv-0 of 3) is reached again, by the service and by its own name', async () => {
    const oldUid = podOf('data', 'kv-0')?.metadata.uid;
    await underLoad(
      'StatefulSet of 3, kv-0 deleted',
      [
        { label: 'kv.data', ip: await addressOf('data', 'kv'), port: 6379 },
        { label: 'kv-0.kv.data', ip: await addressOf('data', 'kv-0.kv'), port: 6379, pod: 'kv-0' },
      ],
      async () => {
        cluster.faults.deletePod('data', 'kv-0');
        return readyAgain('data', 'kv-0', (pod) => pod.metadata.uid !== oldUid);
      },
    );
  });

  it("a single-replica StatefulSet's only pod, replaced under the same name, is reached again", async () => {
    const oldUid = podOf('data', 'solo-0')?.metadata.uid;
    await underLoad(
      'StatefulSet of 1, solo-0 deleted',
      [
        { label: 'solo.data', ip: await addressOf('data', 'solo'), port: 5432 },
        { label: 'solo-0.solo.data', ip: await addressOf('data', 'solo-0.solo'), port: 5432, pod: 'solo-0' },
      ],
      async () => {
        cluster.faults.deletePod('data', 'solo-0');
        return readyAgain('data', 'solo-0', (pod) => pod.metadata.uid !== oldUid);
      },
    );
  });

  it('a container killed and restarted in place (same pod, same UID) is reached again', async () => {
    const before = podOf('data', 'kv-1');
    const restarts = (pod: KubeObject | undefined): number => {
      const statuses = field(pod ?? { metadata: {} }, 'status', 'containerStatuses') as
        { restartCount?: number }[] | undefined;
      return statuses?.[0]?.restartCount ?? 0;
    };
    const restartsBefore = restarts(before);
    await underLoad(
      'StatefulSet pod, container killed',
      [
        { label: 'kv.data', ip: await addressOf('data', 'kv'), port: 6379 },
        { label: 'kv-1.kv.data', ip: await addressOf('data', 'kv-1.kv'), port: 6379, pod: 'kv-1' },
      ],
      async () => {
        expect(cluster.faults.killContainer('data', 'kv-1')).toBe(true);
        await pollUntil(() => restarts(podOf('data', 'kv-1')) > restartsBefore, 20_000, 'kv-1 to restart');
        return readyAgain('data', 'kv-1', (pod) => pod.metadata.uid === before?.metadata.uid);
      },
    );
  });

  it('a Deployment pod deleted (2 replicas): the service keeps answering', async () => {
    const victim = cluster.store.list(pods, 'web').find((p) => p.metadata.name?.startsWith('api-'));
    const name = victim?.metadata.name ?? '';
    await underLoad(
      'Deployment of 2, a pod deleted',
      [{ label: 'api.web', ip: await addressOf('web', 'api'), port: 8080 }],
      async () => {
        cluster.faults.deletePod('web', name);
        await pollUntil(
          () =>
            cluster.store
              .list(pods, 'web')
              .filter((p) => p.metadata.name?.startsWith('api-') && p.metadata.name !== name && isReadyPod(p))
              .length === 2,
          30_000,
          'a replacement api pod to be Ready',
        );
        return Date.now();
      },
    );
  });

  it('every endpoint gone, then back (scaled to 0 and up again): answers again once Ready', async () => {
    const statefulSets = resourceTypeOfKind('StatefulSet');
    const scaleTo = (replicas: number): void => {
      cluster.registry.patch(
        statefulSets,
        'data',
        'solo',
        { spec: { replicas } },
        'application/merge-patch+json',
      );
    };
    const oldUid = podOf('data', 'solo-0')?.metadata.uid;
    await underLoad(
      'StatefulSet of 1, scaled to 0 and back',
      [
        { label: 'solo.data', ip: await addressOf('data', 'solo'), port: 5432 },
        { label: 'solo-0.solo.data', ip: await addressOf('data', 'solo-0.solo'), port: 5432, pod: 'solo-0' },
      ],
      async () => {
        scaleTo(0);
        await pollUntil(() => podOf('data', 'solo-0') === undefined, 30_000, 'solo-0 to be gone');
        scaleTo(1);
        return readyAgain('data', 'solo-0', (pod) => pod.metadata.uid !== oldUid);
      },
    );
  });

  it('a revoked token, then given back: answers again once it works', async () => {
    await underLoad(
      'token revoked for 3 s, then restored',
      [
        { label: 'api.web', ip: await addressOf('web', 'api'), port: 8080 },
        { label: 'kv-2.kv.data', ip: await addressOf('data', 'kv-2.kv'), port: 6379, pod: 'kv-2' },
      ],
      async () => {
        cluster.faults.revokeToken('admin');
        const revokedAt = Date.now();
        await pollUntil(() => Date.now() > revokedAt + 3000, 5000, 'the token to stay revoked for 3 s');
        cluster.faults.restoreToken('admin');
        return Date.now();
      },
    );
    // What the user was told while it was revoked, or nothing if every call went through an
    // open session (an upgraded connection is not checked again, as on a real API server).
    expect(connectOutput).not.toMatch(/TypeError|at .*\(.*\.ts:\d+/);
  });

  it('the API server frozen for 15 s (no answers, nothing lost): answers again once it does', async () => {
    await underLoad(
      'API server frozen 15 s',
      [
        { label: 'api.web', ip: await addressOf('web', 'api'), port: 8080 },
        { label: 'kv-2.kv.data', ip: await addressOf('data', 'kv-2.kv'), port: 6379, pod: 'kv-2' },
      ],
      async () => {
        await cluster.faults.hangApiServer(15_000);
        return Date.now();
      },
    );
  });

  it('port-forward sessions that stop carrying anything (a stall nobody sees) are replaced, and new calls never wait on them', async () => {
    const api = await addressOf('web', 'api');
    const stallsOf = async (): Promise<number> =>
      (await listed()).find((t) => t.namespace === 'web' && t.name === 'api')?.counters.stalls ?? 0;
    const stallsBefore = await stallsOf();
    let stalledAt = 0;
    let seenAt: Promise<number> = Promise.resolve(0);
    await underLoad('port-forward sessions stalled', [{ label: 'api.web', ip: api, port: 8080 }], () => {
      const stalled = cluster.faults.stallPortForwardSessions();
      expect(stalled, 'open sessions to stall').toBeGreaterThan(0);
      stalledAt = Date.now();
      // Counted and visible: `localizer list` shows the replaced session, as a user would see it.
      seenAt = (async () => {
        while ((await stallsOf()) <= stallsBefore) {
          if (Date.now() > stalledAt + 25_000) return Number.NaN;
        }
        return Date.now();
      })();
      return Promise.resolve(stalledAt);
    });
    const replacedAfterMs = (await seenAt) - stalledAt;
    const row = figures.at(-1);
    const load = loadsOf.get('port-forward sessions stalled');
    if (row) {
      row['stall → counted in list (ms)'] = replacedAfterMs;
      row['slowest call after the stall (ms)'] = Math.max(
        ...(load ?? []).filter((o) => o.at >= stalledAt).map((o) => o.ms),
      );
    }
    expect(
      replacedAfterMs,
      `the stalled session should be replaced and counted within 20 s; connect said: ${connectOutput.slice(-800)}`,
    ).toBeLessThan(20_000);
    expect(connectOutput).toMatch(
      /port-forward to pod web\/api-\S+: the port-forward session stopped answering \(.*\); it was replaced/,
    );
  });

  it('port-forward sessions cut at a fixed age, as load balancers do: each cut costs at most the call in flight on it', async () => {
    const api = await addressOf('web', 'api');
    const load = startSteadyLoad(api, 8080);
    const upgradesBefore = cluster.portForwardUpgrades();
    cluster.faults.setPortForwardMaxAge(1500);
    const startedAt = Date.now();
    try {
      await pollUntil(() => Date.now() > startedAt + 8000, 10_000, '8 s of load with sessions cut at 1.5 s');
    } finally {
      cluster.faults.setPortForwardMaxAge(undefined);
      await load.stop();
    }
    const upgrades = cluster.portForwardUpgrades();
    const sessions = portForwardTransports.reduce(
      (sum, kind) => sum + upgrades[kind] - upgradesBefore[kind],
      0,
    );
    const failed = load.failuresSince(startedAt);
    figures.push({
      case: 'sessions cut at 1.5 s for 8 s',
      via: 'api.web',
      calls: load.outcomes.filter((o) => o.at >= startedAt).length,
      'failed, total': failed.length,
      'sessions opened (each cut)': sessions,
    });
    expect(sessions, 'sessions should have been cut and reopened').toBeGreaterThan(2);
    expect(
      failed.length,
      `calls that failed: ${failed.map((o) => o.error ?? '').join(', ')}`,
    ).toBeLessThanOrEqual(sessions);
    await expect.poll(async () => statusOf('api.web'), { timeout: 5000 }).toBe('running');
  });

  it('the API server restarted: forwards keep answering', async () => {
    await underLoad(
      'API server restarted (1 s down)',
      [
        { label: 'api.web', ip: await addressOf('web', 'api'), port: 8080 },
        { label: 'kv-2.kv.data', ip: await addressOf('data', 'kv-2.kv'), port: 6379, pod: 'kv-2' },
      ],
      async () => {
        await cluster.faults.restartApiServer(1000);
        return Date.now();
      },
    );
  });
});
