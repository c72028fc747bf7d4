/**
 * The warm takeover, expose's default, end to end against the test cluster: the Service's
 * selector is pointed at the SSH pod and back while every pod behind it keeps running. Calls go
 * to the Service's cluster IP, as a client in the cluster makes them (kube-proxy routes them).
 */
import { Agent, get, createServer as createHttpServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { freePort } from '../../../../e2e/support/sockets';
import { expectNoExposeObjects } from '../../../../e2e/support/expose-leftovers';
import { requireSystemTools } from '../../../../e2e/support/system-tools';
import { takeoverLimits } from '../../../shared/tunnel-status';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';
import { localizerKeys } from '../kube/localizer-keys';
import { ExposeManager } from './expose-manager';
import { TestClients } from '../../../../e2e/support/test-clients';

/** Each manager's own clients, as each Localizer has; released after the file. */
const clients = new TestClients();

let cluster: TestCluster;
let context: KubeContext;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let manager: ExposeManager;
const servers: Server[] = [];
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** A laptop HTTP server (keep-alive, as most are) answering every request with `answer`. */
async function laptopServer(answer: string): Promise<number> {
  const port = await freePort();
  const server = createHttpServer((_request, response) => response.end(answer));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push(server);
  return port;
}

/** One GET: the body, or the error code. */
function call(ip: string, port: number, agent: Agent | false): Promise<string> {
  return new Promise((resolve) => {
    const request = get({ host: ip, port, path: '/', agent, timeout: 5_000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
      response.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.on('timeout', () => request.destroy(new Error('timeout')));
  });
}

/** Calls in a loop until stopped, keeping every answer: a client that never pauses. */
function keepCalling(ip: string, port: number, agent: Agent | false) {
  const answers: string[] = [];
  const calling = new AbortController();
  const done = (async () => {
    while (!calling.signal.aborted) answers.push(await call(ip, port, agent));
  })();
  return {
    answers,
    stop: async () => {
      calling.abort();
      await done;
    },
  };
}

const fromPods = (answer: string): boolean => answer.includes('"namespace":"web"');

async function serviceOf(namespace: string, name: string): Promise<k8s.V1Service> {
  return core.readNamespacedService({ namespace, name });
}

function podsOf(namespace: string, app: string): { name: string; uid: string; restarts: number }[] {
  return cluster.store
    .list(resourceTypeOfKind('Pod'), namespace)
    .filter((pod) => pod.metadata.labels?.app === app)
    .map((pod) => ({
      name: pod.metadata.name ?? '',
      uid: pod.metadata.uid ?? '',
      restarts:
        (pod as unknown as { status?: { containerStatuses?: { restartCount?: number }[] } }).status
          ?.containerStatuses?.[0]?.restartCount ?? 0,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function expectNoLeftovers(namespace: string): Promise<void> {
  return expectNoExposeObjects(core, namespace);
}

function status(namespace: string, name: string) {
  return manager.snapshot().find((s) => s.namespace === namespace && s.name === name);
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'demo' });
  await cluster.waitForWorkloads();
  context = loadKubeContext({ kubeconfig: cluster.kubeconfigPath });
  core = context.kubeConfig.makeApiClient(k8s.CoreV1Api);
  apps = context.kubeConfig.makeApiClient(k8s.AppsV1Api);
  manager = new ExposeManager({
    clients: clients.forExposes(),
    stateDirectory: mkdtempSync(join(tmpdir(), 'takeover-state-')),
    owner: 'dev@laptop',
    keepaliveIntervalMs: 1_000,
  });
});
afterAll(async () => {
  await manager.stopAll();
  for (const server of servers) server.close();
  clients.releaseAll();
  await cluster.stop();
});

describe('a warm takeover', () => {
  it('takes web/api without touching its pods: no call fails at start or stop, and the Service is its own again after', async () => {
    const before = await serviceOf('web', 'api');
    const podsBefore = podsOf('web', 'api');
    const ip = before.spec?.clusterIP ?? '';
    const laptop = await laptopServer('from the laptop');
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const fresh = keepCalling(ip, 8080, false);
    const pooled = keepCalling(ip, 8080, keepAlive);
    try {
      const started = await manager.expose(context, {
        namespace: 'web',
        service: 'api',
        mappings: [{ localPort: laptop, remote: 'http' }],
      });
      expect(started).toMatchObject({ status: 'running', mode: 'takeover', reason: takeoverLimits });
      // New connections reach the laptop while it is held.
      await expect
        .poll(() => fresh.answers.slice(-3).join('|'), {
          timeout: 15_000,
          message: 'new connections to web/api should reach the laptop',
        })
        .toBe('from the laptop|from the laptop|from the laptop');
      // Meanwhile a connection already open to a pod stays on it (until the client reconnects).
      const pooledAnswers = pooled.answers.length;
      await expect
        .poll(() => pooled.answers.length, { timeout: 5_000, message: 'the pooled caller should go on' })
        .toBeGreaterThan(pooledAnswers + 2);
      expect(
        pooled.answers.slice(pooledAnswers).every(fromPods),
        'a keep-alive connection stays on its pod',
      ).toBe(true);
      const held = await serviceOf('web', 'api');
      expect(Object.keys(held.spec?.selector ?? {})).toEqual([localizerKeys.intercept]);
      expect(JSON.parse(held.metadata?.annotations?.[localizerKeys.originalSelector] ?? '{}')).toEqual(
        before.spec?.selector,
      );

      await manager.unexpose(context.name, 'web', 'api');
      await expect
        .poll(() => fresh.answers.at(-1) ?? '', {
          timeout: 15_000,
          message: 'web/api should reach its own pods again',
        })
        .toSatisfy(fromPods);
    } finally {
      await fresh.stop();
      await pooled.stop();
      keepAlive.destroy();
    }
    const failed = [...fresh.answers, ...pooled.answers].filter(
      (answer) => answer !== 'from the laptop' && !fromPods(answer),
    );
    expect(failed, `calls that failed (of ${String(fresh.answers.length + pooled.answers.length)})`).toEqual(
      [],
    );
    expect(podsOf('web', 'api'), 'the pods keep their UIDs and restart counts').toEqual(podsBefore);
    expect((await apps.readNamespacedDeployment({ namespace: 'web', name: 'api' })).spec?.replicas).toBe(2);
    const after = await serviceOf('web', 'api');
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata?.annotations ?? {}).toEqual(before.metadata?.annotations ?? {});
    await expectNoLeftovers('web');
  });

  it('gives the selector back even when its record on the Service was lost', async () => {
    const laptop = await laptopServer('kv on the laptop');
    await manager.expose(context, {
      namespace: 'tools',
      service: 'bulk',
      mappings: [{ localPort: laptop, remote: 9000 }],
    });
    // Someone tidies the Service's annotations while it is taken over.
    await core.patchNamespacedService(
      {
        namespace: 'tools',
        name: 'bulk',
        body: { metadata: { annotations: { [localizerKeys.originalSelector]: null } } },
      },
      mergePatch,
    );
    await manager.unexpose(context.name, 'tools', 'bulk');
    expect((await serviceOf('tools', 'bulk')).spec?.selector).toEqual({ app: 'bulk' });
    await expectNoLeftovers('tools');
  });

  it('takes a workload an autoscaler scales, as it scales nothing', async () => {
    const autoscalers = resourceTypeOfKind('HorizontalPodAutoscaler');
    cluster.registry.create(autoscalers, 'tools', {
      metadata: { name: 'echo' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'echo' },
        minReplicas: 1,
        maxReplicas: 3,
      },
    });
    try {
      const laptop = await laptopServer('echo on the laptop');
      const started = await manager.expose(context, {
        namespace: 'tools',
        service: 'echo',
        mappings: [{ localPort: laptop, remote: 7007 }],
      });
      expect(started.status).toBe('running');
      expect((await apps.readNamespacedDeployment({ namespace: 'tools', name: 'echo' })).spec?.replicas).toBe(
        1,
      );
      await manager.unexpose(context.name, 'tools', 'echo');
      await expect(
        manager.expose(context, {
          namespace: 'tools',
          service: 'echo',
          mappings: [{ localPort: laptop, remote: 7007 }],
          mode: 'scale-down',
        }),
      ).rejects.toThrow(/scaled by the HorizontalPodAutoscaler echo/);
    } finally {
      cluster.registry.delete(autoscalers, 'tools', 'echo');
    }
    await expectNoLeftovers('tools');
  });

  it('ends, saying so, when someone else changes the selector it holds, and leaves that change alone', async () => {
    const laptop = await laptopServer('frontend on the laptop');
    const ended: string[] = [];
    manager.on('ended', (_id, reason) => ended.push(reason));
    await manager.expose(context, {
      namespace: 'web',
      service: 'frontend',
      mappings: [{ localPort: laptop, remote: 'http' }],
    });
    // A GitOps tool's self-heal puts the selector of the manifest back.
    await core.patchNamespacedService(
      { namespace: 'web', name: 'frontend', body: { spec: { selector: { app: 'frontend' } } } },
      mergePatch,
    );
    await expect
      .poll(() => ended.length, { timeout: 15_000, message: 'the expose should end by itself' })
      .toBe(1);
    expect(ended[0]).toMatch(
      /^Ended: the selector of web\/frontend was changed while this expose held it \(now app=frontend.*\)\. Localizer left that change as it is\.$/,
    );
    expect(status('web', 'frontend')).toBeUndefined();
    const service = await serviceOf('web', 'frontend');
    expect(service.spec?.selector).toEqual({ app: 'frontend' });
    expect(service.metadata?.annotations?.[localizerKeys.originalSelector]).toBeUndefined();
    await expectNoLeftovers('web');
  });
});
