/** Fault injection, in-process and through the admin endpoint, as tests of Localizer will use it. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../support/processes';
import { field } from './api/objects';
import { resourceTypeOfKind } from './api/resources';
import { startTestCluster, type TestCluster } from './test-cluster';
import { requireSystemTools } from '../support/system-tools';

const pods = resourceTypeOfKind('Pod');
let cluster: TestCluster;
let cacheDir: string;

function kubectl(...args: string[]) {
  return run('kubectl', ['--kubeconfig', cluster.kubeconfigPath, '--cache-dir', cacheDir, ...args]);
}

function echoPod() {
  const pod = cluster.store.list(pods, 'tools').find((p) => p.metadata.name?.startsWith('echo-'));
  if (!pod) throw new Error('the demo has no echo pod');
  return pod;
}

beforeAll(async () => {
  requireSystemTools('kubectl');
  cluster = await startTestCluster({ scenario: 'demo' });
  cacheDir = mkdtempSync(join(tmpdir(), 'faults-cache-'));
});
afterAll(() => cluster.stop());

describe('fault injection', () => {
  it('kills a container process through the admin endpoint; the kubelet restarts it and it is Ready again', async () => {
    const name = echoPod().metadata.name ?? '';
    const body = join(mkdtempSync(join(tmpdir(), 'fault-')), 'kill.json');
    writeFileSync(body, JSON.stringify({ namespace: 'tools', pod: name }));
    const result = await kubectl('create', '--raw', '/localizer-test/v1/faults/kill-container', '-f', body);
    expect(result.stdout).toContain('"ok":true');
    await expect
      .poll(
        () =>
          field(cluster.store.get(pods, 'tools', name), 'status', 'containerStatuses', '0', 'restartCount'),
        { timeout: 15_000 },
      )
      .toBe(1);
    await expect
      .poll(
        () => field(cluster.store.get(pods, 'tools', name), 'status', 'containerStatuses', '0', 'ready'),
        { timeout: 15_000 },
      )
      .toBe(true);
  });

  it('deletes a pod at once; its Deployment replaces it with a new name and IP', async () => {
    const before = echoPod();
    cluster.faults.deletePod('tools', before.metadata.name ?? '');
    await expect
      .poll(
        () =>
          cluster.store
            .list(pods, 'tools')
            .filter((p) => p.metadata.name?.startsWith('echo-') && p.metadata.name !== before.metadata.name)
            .length,
        {
          timeout: 15_000,
        },
      )
      .toBe(1);
    expect(cluster.store.get(pods, 'tools', before.metadata.name ?? '')).toBeUndefined();
  });

  it('makes new port-forwards fail while refused, and work again after', async () => {
    cluster.faults.setPortForward('refuse');
    const name = echoPod().metadata.name ?? '';
    const refused = await run(
      'kubectl',
      [
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--cache-dir',
        cacheDir,
        'port-forward',
        '-n',
        'tools',
        `pod/${name}`,
        ':7007',
      ],
      {
        timeoutMs: 20_000,
      },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('error dialing backend');
    cluster.faults.setPortForward('normal');
  });

  it('ends open watches when connections drop, and serves again on the same port after a restart', async () => {
    const kubeconfig = new k8s.KubeConfig();
    kubeconfig.loadFromFile(cluster.kubeconfigPath);
    let ended: unknown = 'not yet';
    await new k8s.Watch(kubeconfig).watch(
      '/api/v1/services',
      {},
      () => undefined,
      (error: unknown) => (ended = error),
    );
    cluster.faults.dropConnections();
    await expect.poll(() => ended, { timeout: 10_000, message: 'the watch should end' }).not.toBe('not yet');

    await cluster.faults.restartApiServer(200);
    const after = await kubectl('get', 'namespaces', '-o', 'name');
    expect(after.stdout).toContain('namespace/web');
  });

  it('answers 401 once a token is revoked', async () => {
    cluster.faults.revokeToken('restricted');
    const result = await run('kubectl', [
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--cache-dir',
      cacheDir,
      '--context',
      cluster.contexts.restricted,
      'get',
      'pods',
      '-n',
      'web',
    ]);
    expect(result.stderr).toContain('error: You must be logged in to the server (Unauthorized)');
  });
});
