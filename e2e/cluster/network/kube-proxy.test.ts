/** Services route for real: a client "inside the cluster" calls a Service's cluster IP. */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, connectOutcome } from '../../support/sockets';
import { pollUntil } from '../../support/poll';
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

  it('routes a selector-less service to the outside address its endpoints name', async () => {
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: clusterIp('data', 'legacy-db'), port: 5432 });
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        resolve(chunk.toString());
      });
      socket.once('error', reject);
    });
    expect(greeting).toBe('legacy-db.corp.example: echo\n');
  });

  it('refuses connections to a service with no endpoints', async () => {
    cluster.registry.create(resourceTypeOfKind('Service'), 'data', {
      metadata: { name: 'no-endpoints' },
      spec: { ports: [{ port: 5433 }] },
    });
    await pollUntil(
      () => clusterIp('data', 'no-endpoints') !== 'undefined',
      5_000,
      'a cluster IP for the service',
    );
    expect(await connectOutcome(clusterIp('data', 'no-endpoints'), 5433)).toBe('ECONNREFUSED');
  });

  it('answers each UDP client from the pod, through the service address', async () => {
    const replies = await Promise.all(
      [1, 2, 3].map(
        (client) =>
          new Promise<string>((resolve, reject) => {
            const socket = createSocket('udp4');
            socket.once('message', (reply) => {
              socket.close();
              resolve(reply.toString());
            });
            socket.once('error', reject);
            socket.send(`client ${String(client)}`, 8125, clusterIp('tools', 'statsd'));
          }),
      ),
    );
    expect(replies).toEqual(['client 1', 'client 2', 'client 3']);
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
