/**
 * The app's backend after a run of it was killed mid-expose: at the next start it puts the
 * workloads back, deletes what the killed run made, and says so in the state the window and the
 * notifications show.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../e2e/cluster/test-cluster';
import { runInBackground } from '../../../e2e/support/processes';
import { freePort } from '../../../e2e/support/sockets';
import { defaultSettings } from '../../shared/settings';
import { memorySettings, openLocalizer, type OpenedLocalizer } from './open-localizer';
import { requireSystemTools } from '../../../e2e/support/system-tools';
import { builtCli } from '../../../e2e/support/built-localizer';

let cluster: TestCluster;
let apps: k8s.AppsV1Api;
let laptop: Server;

function openFor(stateDirectory: string): Promise<OpenedLocalizer> {
  return openLocalizer({
    kind: 'harness',
    appInfo: { version: '0.0.0', platform: process.platform, electron: null },
    stateDirectory,
    settings: memorySettings(defaultSettings),
    kubeconfig: cluster.kubeconfigPath,
  });
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'demo' });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfigPath);
  apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  laptop = createServer((socket) => socket.on('error', () => socket.destroy()).end('laptop\n'));
});
afterAll(async () => {
  laptop.close();
  await cluster.stop();
});

describe('the app after a run of it was killed', () => {
  it('restores the workloads a killed expose left scaled down, and says what it did', async () => {
    const state = mkdtempSync(join(tmpdir(), 'backend-state-'));
    const port = await freePort();
    await new Promise<void>((resolve) => laptop.listen(port, '127.0.0.1', resolve));
    const killed = runInBackground(
      process.execPath,
      [builtCli, 'expose', 'web/frontend', '--scale-down', '--map', `${String(port)}:http`],
      { env: { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster.kubeconfigPath } },
    );
    await expect
      .poll(killed.output, { timeout: 30_000, message: 'the expose should run' })
      .toContain('Exposed:');
    killed.child.kill('SIGKILL');
    await expect.poll(() => killed.child.signalCode, { timeout: 5_000 }).toBe('SIGKILL');
    const frontend = () => apps.readNamespacedDeployment({ namespace: 'web', name: 'frontend' });
    expect((await frontend()).spec?.replicas).toBe(0);

    const opened = await openFor(state);
    try {
      await opened.instance.recoverEarlierRuns();
      const { cleanup } = opened.api.snapshot();
      expect(cleanup).toMatchObject({ context: 'localizer-test', failed: [] });
      expect(cleanup?.done).toEqual(
        expect.arrayContaining([
          'restored Deployment web/frontend to 2 replicas',
          expect.stringMatching(/^deleted SSH pod web\/localizer-frontend-/),
        ]),
      );
      expect((await frontend()).spec?.replicas).toBe(2);
    } finally {
      await opened.close();
    }

    // The next start has nothing left to do, and says nothing.
    const again = await openFor(state);
    try {
      expect(await again.instance.recoverEarlierRuns()).toEqual([]);
      expect(again.api.snapshot().cleanup).toBeNull();
    } finally {
      await again.close();
    }
  });
});
