/** Services route for real: a client "inside the cluster" calls a Service's cluster IP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, connectOutcome } from '../../support/sockets';
import { field } from '../api/objects';
import { resourceTypeOfKind } from '../api/resources';
import { startTestCluster, type TestCluster } from '../test-cluster';

const services = resourceTypeOfKind('Service');
let cluster: TestCluster;

function clusterIp(namespace: string, name: string): string {
  return String(field(cluster.store.get(services, namespace, name), 'spec', 'clusterIP'));
}

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
});
afterAll(() => cluster.stop());

describe('kube-proxy', () => {
  it('spreads calls to a service port over every ready pod, through a named targetPort', async () => {
    const ip = clusterIp('web', 'frontend');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(String((await getJson(ip, 80)).pod));
    expect(seen.size).toBe(2);
  });

  it('routes each port of a multi-port service to its own target port', async () => {
    const ip = clusterIp('web', 'api');
    expect(await getJson(ip, 8080)).toMatchObject({ namespace: 'web', port: 8080 });
    expect(await getJson(ip, 9090)).toMatchObject({ namespace: 'web', port: 9102 });
  });

  it('refuses connections to a service with no endpoints', async () => {
    expect(await connectOutcome(clusterIp('data', 'legacy-db'), 5432)).toBe('ECONNREFUSED');
  });

  it('follows the endpoints when a deployment scales to zero and back', async () => {
    const deployments = resourceTypeOfKind('Deployment');
    const ip = clusterIp('tools', 'echo');
    const scale = (replicas: number) => {
      const deployment = cluster.store.get(deployments, 'tools', 'echo');
      if (!deployment?.spec) throw new Error('no echo deployment');
      deployment.spec.replicas = replicas;
      cluster.store.update(deployments, deployment, { bumpGeneration: true });
    };
    scale(0);
    await expect.poll(() => connectOutcome(ip, 7007), { timeout: 15_000 }).toBe('ECONNREFUSED');
    scale(1);
    await expect.poll(() => connectOutcome(ip, 7007), { timeout: 15_000 }).toBe('connected');
  });
});
