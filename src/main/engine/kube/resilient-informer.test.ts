/**
 * The informer wrapper against a real test cluster: what the engine sees of the cluster while a
 * watch starts over (after sleep, or a network change).
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { ResilientInformer } from './resilient-informer';

let cluster: TestCluster;
let informer: ResilientInformer<k8s.V1Service>;

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfigPath);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  informer = new ResilientInformer<k8s.V1Service>({
    kubeConfig,
    path: '/api/v1/services',
    list: () => core.listServiceForAllNamespaces(),
  });
});
afterAll(async () => {
  await informer.stop();
  await cluster.stop();
});

describe('a resilient informer', () => {
  it('is connected only once it has listed, and never shows an empty cluster while it starts over', async () => {
    const seen: { health: string; count: number }[] = [];
    informer.on('change', () => seen.push({ health: informer.health.state, count: informer.list().length }));
    informer.start();
    await expect.poll(() => informer.health.state, { timeout: 10_000 }).toBe('connected');
    const services = informer.list().length;
    expect(services, 'the demo cluster has services').toBeGreaterThan(5);
    expect(
      seen.every((s) => s.count === services),
      `changes seen while starting: ${JSON.stringify(seen)}`,
    ).toBe(true);

    seen.length = 0;
    informer.restartNow();
    await expect
      .poll(() => seen.length > 0 && informer.health.state === 'connected', {
        timeout: 10_000,
        message: 'the restarted watch should list again',
      })
      .toBe(true);
    expect(
      seen.map((s) => s.count),
      'every change after the restart shows every service',
    ).toEqual(seen.map(() => services));
  });
});
