/** Scaling the workloads behind a Service down and back, against a real test cluster. */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { annotations, findServingWorkloads, refuseAutoscaled, restore, scaleDown } from './workload-scaler';
import { ExposeRefusedError } from './expose-refused-error';

let cluster: TestCluster;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const me = { owner: 'dev@laptop', session: 'session-1' };

async function readyPods(namespace: string, selector: string): Promise<number> {
  const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
  return pods.items.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  ).length;
}

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfigPath);
  core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
});
afterAll(() => cluster.stop());

describe('the workloads behind a service', () => {
  it('are the Deployment or StatefulSet whose pods it selects, not the ReplicaSets they own', async () => {
    const api = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    expect(await findServingWorkloads(apps, api)).toEqual([
      expect.objectContaining({ kind: 'Deployment', namespace: 'web', name: 'api', replicas: 2 }),
    ]);
    const kv = await core.readNamespacedService({ namespace: 'data', name: 'kv' });
    expect(await findServingWorkloads(apps, kv)).toEqual([
      expect.objectContaining({ kind: 'StatefulSet', namespace: 'data', name: 'kv', replicas: 3 }),
    ]);
  });

  it('cannot be found for a service without a selector, and the refusal says so', async () => {
    const legacy = await core.readNamespacedService({ namespace: 'data', name: 'legacy-db' });
    await expect(findServingWorkloads(apps, legacy)).rejects.toThrow(/legacy-db has no selector/);
  });

  it('scale to zero with their replicas recorded on them, and come back exactly', async () => {
    const api = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const workloads = await findServingWorkloads(apps, api);
    await scaleDown(apps, workloads, me);
    const scaled = await apps.readNamespacedDeployment({ namespace: 'web', name: 'api' });
    expect(scaled.spec?.replicas).toBe(0);
    expect(scaled.metadata?.annotations).toMatchObject({
      [annotations.owner]: 'dev@laptop',
      [annotations.originalReplicas]: '2',
    });
    await expect.poll(() => readyPods('web', 'app=api'), { timeout: 15_000 }).toBe(0);

    await restore(apps, workloads);
    await restore(apps, workloads);
    const restored = await apps.readNamespacedDeployment({ namespace: 'web', name: 'api' });
    expect(restored.spec?.replicas).toBe(2);
    expect(
      Object.keys(restored.metadata?.annotations ?? {}).filter((k) => k.startsWith('localizer.dev/')),
    ).toEqual([]);
    await expect.poll(() => readyPods('web', 'app=api'), { timeout: 15_000 }).toBe(2);
  });

  it('are not taken from someone else who exposed them first', async () => {
    const frontend = await core.readNamespacedService({ namespace: 'web', name: 'frontend' });
    const workloads = await findServingWorkloads(apps, frontend);
    await scaleDown(apps, workloads, { owner: 'colleague@other-laptop', session: 'theirs' });
    const refusal = scaleDown(apps, workloads, me);
    await expect(refusal).rejects.toBeInstanceOf(ExposeRefusedError);
    await expect(refusal).rejects.toThrow(
      'Deployment web/frontend is already exposed by colleague@other-laptop',
    );
    await restore(apps, workloads);
  });

  it('are refused while an autoscaler targets them', async () => {
    const autoscalers = resourceTypeOfKind('HorizontalPodAutoscaler');
    cluster.registry.create(autoscalers, 'tools', {
      metadata: { name: 'echo' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'echo' },
        minReplicas: 1,
        maxReplicas: 3,
      },
    });
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfigPath);
    const echo = await core.readNamespacedService({ namespace: 'tools', name: 'echo' });
    const workloads = await findServingWorkloads(apps, echo);
    await expect(refuseAutoscaled(kubeConfig.makeApiClient(k8s.AutoscalingV2Api), workloads)).rejects.toThrow(
      'Deployment tools/echo is scaled by the HorizontalPodAutoscaler echo',
    );
  });
});
