/** @kubernetes/client-node against the test cluster: list, informer, watch with 410 Gone, PortForward. */
import { createServer, type AddressInfo, type Server } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoRoundTrip, randomPayload } from '../../support/sockets';
import { startTestCluster, type TestCluster } from '../test-cluster';

let cluster: TestCluster;
let kubeconfig: k8s.KubeConfig;
let core: k8s.CoreV1Api;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  kubeconfig = new k8s.KubeConfig();
  kubeconfig.loadFromFile(cluster.kubeconfigPath);
  core = kubeconfig.makeApiClient(k8s.CoreV1Api);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await cluster.stop();
});

function serviceBody(name: string): k8s.V1Service {
  return { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 8080 }] } };
}

describe('@kubernetes/client-node', () => {
  it('lists services in all namespaces with cluster IPs from the cluster range', async () => {
    const list = await core.listServiceForAllNamespaces();
    const names = list.items.map((s) => `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`);
    expect(names).toEqual(expect.arrayContaining(['web/frontend', 'web/api', 'data/kv', 'tools/echo']));
    const frontend = list.items.find((s) => s.metadata?.name === 'frontend');
    expect(frontend?.spec?.clusterIP).toMatch(new RegExp(`^127\\.${cluster.addressOctet}\\.`));
    expect(Number(list.metadata?._continue ?? 0)).toBe(0);
  });

  it('feeds an informer with adds, updates and deletes', async () => {
    const informer = k8s.makeInformer(kubeconfig, '/api/v1/namespaces/web/services', () =>
      core.listNamespacedService({ namespace: 'web' }),
    );
    const seen: string[] = [];
    informer.on('add', (s) => seen.push(`add ${s.metadata?.name ?? ''}`));
    informer.on('update', (s) =>
      seen.push(`update ${s.metadata?.name ?? ''} ${s.metadata?.labels?.stage ?? ''}`),
    );
    informer.on('delete', (s) => seen.push(`delete ${s.metadata?.name ?? ''}`));
    await informer.start();
    cleanups.push(() => informer.stop());
    await expect.poll(() => seen, { timeout: 10_000 }).toContain('add frontend');
    await core.createNamespacedService({ namespace: 'web', body: serviceBody('informed') });
    await core.patchNamespacedService(
      { namespace: 'web', name: 'informed', body: { metadata: { labels: { stage: 'two' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedService({ namespace: 'web', name: 'informed' });
    await expect
      .poll(() => seen.filter((e) => e.includes('informed')), {
        timeout: 10_000,
        message: 'informer should see the whole life of the service',
      })
      .toEqual(['add informed', 'update informed two', 'delete informed']);
    expect(informer.list('web').map((s) => s.metadata?.name)).not.toContain('informed');
  });

  it('gets 410 Gone when a watch resumes from an expired resourceVersion', async () => {
    const list = await core.listNamespacedService({ namespace: 'web' });
    const staleVersion = list.metadata?.resourceVersion ?? '';
    await core.createNamespacedService({ namespace: 'web', body: serviceBody('after-list') });
    cluster.faults.expireWatchHistory();
    const events: { type: string; code?: number }[] = [];
    const watch = new k8s.Watch(kubeconfig);
    const done = new Promise<void>((resolve) => {
      void watch.watch(
        '/api/v1/namespaces/web/services',
        { resourceVersion: staleVersion },
        (type: string, object: { code?: number }) =>
          events.push({ type, ...(object.code ? { code: object.code } : {}) }),
        () => resolve(),
      );
    });
    await done;
    expect(events).toEqual([{ type: 'ERROR', code: 410 }]);
  });

  it('port-forwards connections to an echo pod, one WebSocket each', async () => {
    const pods = await core.listNamespacedPod({ namespace: 'tools', labelSelector: 'app=echo' });
    const pod = pods.items[0]?.metadata?.name ?? '';
    const forward = new k8s.PortForward(kubeconfig);
    const server: Server = createServer((socket) => {
      void forward.portForward('tools', pod, [7007], socket, null, socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    for (const size of [1, 64 * 1024, 512 * 1024]) {
      const payload = randomPayload(size);
      const echoed = await echoRoundTrip('127.0.0.1', port, payload);
      expect(echoed.equals(payload), `${size} bytes should come back unchanged`).toBe(true);
    }
  });

  it('reads the restricted context as forbidden outside its namespace', async () => {
    const restricted = new k8s.KubeConfig();
    restricted.loadFromFile(cluster.kubeconfigPath);
    restricted.setCurrentContext(cluster.contexts.restricted);
    const api = restricted.makeApiClient(k8s.CoreV1Api);
    await expect(api.listNamespacedService({ namespace: 'web' })).resolves.toBeDefined();
    await expect(api.listServiceForAllNamespaces()).rejects.toMatchObject({ code: 403 });
  });
});
