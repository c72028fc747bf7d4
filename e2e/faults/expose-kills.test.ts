/**
 * `localizer expose` killed with SIGKILL at random moments, in each mode: while it starts
 * (before, during and after the selector switch or the scale-down) and while it stops (the
 * selector or the replicas given back, the SSH pod draining). Whatever the moment,
 * `localizer cleanup` leaves the Service with its own selector, every workload at its original
 * replicas, and no SSH pod or Secret behind. The moments are random on purpose; each kill prints
 * its delay, so a failure can be replayed with LOCALIZER_FAULT_DELAYS=ms,ms,…
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labels } from '../../src/main/engine/expose/ssh-pod';
import { localizerKeys } from '../../src/main/engine/kube/localizer-keys';
import { exposeModes, type ExposeMode } from '../../src/shared/tunnel-status';
import { startTestCluster, type TestCluster } from '../cluster/test-cluster';
import { pollUntil } from '../support/poll';
import { run, runInBackground } from '../support/processes';
import { freePort } from '../support/sockets';
import { requireSystemTools } from '../support/system-tools';
import { printFigures, type FaultFigures } from './fault-figures';
import { killDelays, untilKillMoment } from './kill-moments';
import { kubeClients } from '../support/kube-clients';
import { builtCli } from '../support/built-localizer';

const nodeArgs = [builtCli];
let cluster: TestCluster | undefined;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;
let laptop: Server | undefined;
let laptopPort = 0;
const figures: FaultFigures[] = [];

/** `localizer expose web/frontend` to the laptop's port, in the background, on its own state. */
function startExpose(state: string, mode: ExposeMode) {
  return runInBackground(
    process.execPath,
    [
      ...[...nodeArgs, 'expose', 'web/frontend', '--map', `${String(laptopPort)}:http`],
      ...(mode === 'scale-down' ? ['--scale-down'] : []),
      ...(mode === 'personal' ? ['--header', 'x-dev=killed'] : []),
    ],
    { env: environment(state) },
  );
}

/** The Service's selector, and whether a takeover's record is still on it. */
async function serviceState(): Promise<{ selector: Record<string, string>; record: boolean }> {
  const service = await core.readNamespacedService({ namespace: 'web', name: 'frontend' });
  return {
    selector: service.spec?.selector ?? {},
    record: service.metadata?.annotations?.[localizerKeys.originalSelector] !== undefined,
  };
}

function environment(state: string): NodeJS.ProcessEnv {
  return { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster?.kubeconfigPath ?? '' };
}

async function replicas(): Promise<number | undefined> {
  return (await apps.readNamespacedDeployment({ namespace: 'web', name: 'frontend' })).spec?.replicas;
}

async function leftovers(): Promise<{ pods: number; secrets: number; routerObjects: number }> {
  const router = { labelSelector: `${localizerKeys.role}=router` };
  const [pods, secrets, routerPods, routerServices, routerConfigMaps] = await Promise.all([
    core.listPodForAllNamespaces({ labelSelector: labels.session }),
    core.listSecretForAllNamespaces({ labelSelector: labels.session }),
    core.listPodForAllNamespaces(router),
    core.listServiceForAllNamespaces(router),
    core.listConfigMapForAllNamespaces(router),
  ]);
  // A deleted pod that is terminating is on its way out, as the API server shows it.
  const running = (items: k8s.V1Pod[]): number => items.filter((p) => !p.metadata?.deletionTimestamp).length;
  return {
    pods: running(pods.items),
    secrets: secrets.items.length,
    // A personal intercept's router pod, origin Service and ConfigMap.
    routerObjects: running(routerPods.items) + routerServices.items.length + routerConfigMaps.items.length,
  };
}

/** Cleans up with the CLI, then checks nothing of the killed expose is left, and notes the figures. */
async function cleanUpAndCheck(
  state: string,
  mode: ExposeMode,
  moment: string,
  delayMs: number,
): Promise<void> {
  const cleanup = await run(process.execPath, [...nodeArgs, 'cleanup'], { env: environment(state) });
  const context = `after a SIGKILL ${moment} (${String(delayMs)} ms; replay with LOCALIZER_FAULT_DELAYS) and localizer cleanup: ${cleanup.stdout}${cleanup.stderr}`;
  let left = { pods: -1, secrets: -1, routerObjects: -1 };
  let current: number | undefined;
  let service: { selector: Record<string, string>; record: boolean } | undefined;
  try {
    expect(cleanup.code, context).toBe(0);
    current = await replicas();
    expect(current, `replicas ${context}`).toBe(2);
    service = await serviceState();
    expect(service, `the Service ${context}`).toEqual({ selector: { app: 'frontend' }, record: false });
    // Deleted pods terminate gracefully first; the Secret goes with them.
    await expect
      .poll(
        async () => {
          left = await leftovers();
          return left;
        },
        { timeout: 15_000, message: `SSH pods, Secrets and router objects ${context}` },
      )
      .toEqual({ pods: 0, secrets: 0, routerObjects: 0 });
  } finally {
    figures.push({
      mode,
      moment,
      'killed after (ms)': delayMs,
      'selectors left taken over': service?.selector.app === 'frontend' && !service.record ? 0 : 1,
      'workloads left scaled down': current === 2 ? 0 : 1,
      'SSH pods left': left.pods,
      'Secrets left': left.secrets,
      'router objects left': left.routerObjects,
      'cleanup said': cleanup.stdout.trim().split('\n').at(-1) ?? '',
    });
  }
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux', 'haproxy');
  cluster = await startTestCluster({ scenario: 'demo' });
  ({ apps, core } = kubeClients(cluster.kubeconfigPath));
  laptopPort = await freePort();
  const server = createServer((socket) => socket.on('error', () => socket.destroy()).end('laptop\n'));
  laptop = server;
  await new Promise<void>((resolve) => server.listen(laptopPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  printFigures('localizer expose killed with SIGKILL, then localizer cleanup', figures);
  laptop?.close();
  await cluster?.stop();
});

describe('SIGKILL of localizer expose at a random moment', () => {
  for (const mode of exposeModes) {
    it(`while it starts (${mode}): cleanup gives the Service back and removes the SSH pod and Secret`, async () => {
      // An expose reaches "Exposed:" in about 2–3.5 s here (a takeover switches the selector
      // last; a personal intercept's router pod starts after the SSH pod, about 1 s more); kill
      // anywhere in the first 4.5 s (6 s for a personal intercept).
      for (const delayMs of killDelays(3, mode === 'personal' ? 6000 : 4500, 0)) {
        const state = mkdtempSync(join(tmpdir(), 'expose-kill-'));
        const expose = startExpose(state, mode);
        const startedAt = Date.now();
        await untilKillMoment(startedAt, delayMs, () => expose.output().includes('Exposed:'));
        expose.child.kill('SIGKILL');
        await expose.stop();
        await cleanUpAndCheck(
          state,
          mode,
          expose.output().includes('Exposed:') ? 'once exposed' : 'during start',
          Date.now() - startedAt,
        );
      }
    });

    if (mode === 'personal')
      it('while it makes the router (personal): cleanup removes the router and gives the Service back', async () => {
        // Timed from the moment the router step starts: its ConfigMap, origin Service, pod and
        // the selector switch are all made within about 450 ms of it here.
        for (const delayMs of killDelays(3, 500, 6)) {
          const state = mkdtempSync(join(tmpdir(), 'expose-kill-'));
          const expose = startExpose(state, mode);
          await pollUntil(() => expose.output().includes('routing x-dev=killed'), 30_000, 'the router step');
          const startedAt = Date.now();
          await untilKillMoment(startedAt, delayMs, () => expose.output().includes('Exposed:'));
          expose.child.kill('SIGKILL');
          await expose.stop();
          await cleanUpAndCheck(
            state,
            mode,
            expose.output().includes('Exposed:') ? 'once exposed' : 'while making the router',
            Date.now() - startedAt,
          );
        }
      });

    it(`while it stops (${mode}): cleanup finishes the stop`, async () => {
      for (const delayMs of killDelays(2, 800, 4)) {
        const state = mkdtempSync(join(tmpdir(), 'expose-kill-'));
        const expose = startExpose(state, mode);
        await pollUntil(() => expose.output().includes('Exposed:'), 30_000, 'the expose to run');
        expose.child.kill('SIGINT');
        await untilKillMoment(Date.now(), delayMs, () => expose.child.exitCode !== null);
        expose.child.kill('SIGKILL');
        await expose.stop();
        await cleanUpAndCheck(state, mode, 'during stop', delayMs);
      }
    });
  }
});
