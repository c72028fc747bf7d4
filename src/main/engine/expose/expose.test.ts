/**
 * Exposing a Service to a port on this machine, end to end against the test cluster: its real
 * sshd in the SSH pod, its kube-proxy-like routing on the service's cluster IP, and real servers
 * on the laptop side.
 */
import { get } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { freePort, randomPayload } from '../../../../e2e/support/sockets';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';
import { takeoverLimits } from '../../../shared/tunnel-status';
import { readRecords } from './expose-records';
import { ExposeManager } from './expose-manager';
import { generateEd25519KeyPair, labels } from './ssh-pod';
import { expectNoExposeObjects } from '../../../../e2e/support/expose-leftovers';
import { requireSystemTools } from '../../../../e2e/support/system-tools';
import { TestClients } from '../../../../e2e/support/test-clients';

/** Each manager's own clients, as each Localizer has; released after the file. */
const clients = new TestClients();

let cluster: TestCluster;
let context: KubeContext;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let manager: ExposeManager;
const stateDirectory = mkdtempSync(join(tmpdir(), 'expose-state-'));
const servers: Server[] = [];

/** What a fresh connection to the service's cluster IP gets: the body, or the error code. */
function callService(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const request = get({ host: ip, port, path: '/', agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
      response.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.on('timeout', () => request.destroy(new Error('timeout')));
  });
}

/** An HTTP-ish server on 127.0.0.1 that answers every connection with `answer`. */
async function laptopServer(answer: string): Promise<number> {
  const port = await freePort();
  const server = createServer((socket) => {
    socket.once('data', () =>
      socket.end(
        `HTTP/1.1 200 OK\r\nContent-Length: ${String(answer.length)}\r\nConnection: close\r\n\r\n${answer}`,
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push(server);
  return port;
}

async function clusterIp(namespace: string, name: string): Promise<string> {
  const service = await core.readNamespacedService({ namespace, name });
  return service.spec?.clusterIP ?? '';
}

async function replicas(namespace: string, name: string): Promise<number | undefined> {
  return (await apps.readNamespacedDeployment({ namespace, name })).spec?.replicas;
}

/** Polls until no SSH pod or Secret of ours is left: a deleted pod terminates gracefully first. */
function expectNoLeftovers(namespace: string): Promise<void> {
  return expectNoExposeObjects(core, namespace);
}

function status(namespace: string, name: string) {
  return manager.snapshot().find((s) => s.namespace === namespace && s.name === name);
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'demo' });
  context = loadKubeContext({ kubeconfig: cluster.kubeconfigPath });
  core = context.kubeConfig.makeApiClient(k8s.CoreV1Api);
  apps = context.kubeConfig.makeApiClient(k8s.AppsV1Api);
  manager = new ExposeManager({
    clients: clients.forExposes(),
    stateDirectory,
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

describe('expose', () => {
  it('with scale-down, sends calls to the service to this machine, and back to the cluster once stopped', async () => {
    const ip = await clusterIp('web', 'api');
    expect(await callService(ip, 8080)).toContain('"namespace":"web"');
    const local = await laptopServer('from the laptop');
    const progress: string[] = [];
    const started = await manager.expose(
      context,
      {
        namespace: 'web',
        service: 'api',
        mappings: [{ localPort: local, remote: 'http' }],
        mode: 'scale-down',
      },
      (message) => progress.push(message),
    );
    expect(started).toMatchObject({
      kind: 'expose',
      status: 'running',
      mode: 'scale-down',
      ports: [{ port: 8080, targetPort: local }],
    });
    expect(progress).toEqual(
      expect.arrayContaining([expect.stringMatching(/^scaling down Deployment web\/api/)]),
    );
    expect(await replicas('web', 'api')).toBe(0);
    // Every call lands on the laptop once the cluster's own pods are gone.
    await expect
      .poll(async () => (await Promise.all([1, 2, 3].map(() => callService(ip, 8080)))).join('|'), {
        timeout: 20_000,
        message: 'every call to web/api should reach the laptop',
      })
      .toBe('from the laptop|from the laptop|from the laptop');
    expect(status('web', 'api')?.counters.connections).toBeGreaterThanOrEqual(3);

    // A caller that keeps calling while the expose stops meets no gap: the tunnel serves until
    // the restored pods are ready.
    const answers: string[] = [];
    const calling = new AbortController();
    const caller = (async () => {
      while (!calling.signal.aborted) answers.push(await callService(ip, 8080));
    })();
    await manager.unexpose(context.name, 'web', 'api');
    const { readyReplicas } =
      (await apps.readNamespacedDeployment({ namespace: 'web', name: 'api' })).status ?? {};
    expect(readyReplicas, 'stop should return once the restored pods are ready').toBe(2);
    await expect
      .poll(() => answers.at(-1) ?? '', {
        timeout: 20_000,
        message: 'web/api should reach its own pods again',
      })
      .toContain('"namespace":"web"');
    calling.abort();
    await caller;
    const failed = answers.filter((a) => a !== 'from the laptop' && !a.includes('"namespace":"web"'));
    expect(
      failed,
      `${String(failed.length)} of ${String(answers.length)} calls failed while stopping`,
    ).toEqual([]);
    expect(await replicas('web', 'api')).toBe(2);
    await expectNoLeftovers('web');
    expect(readRecords(stateDirectory)).toEqual([]);
  });

  it('carries a large answer from the laptop whole, to its last byte', async () => {
    const payload = randomPayload(8 * 1024 * 1024);
    const port = await freePort();
    // The pod's readiness probe connects too, and hangs up without reading.
    const server = createServer((socket) => socket.on('error', () => socket.destroy()).end(payload));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    servers.push(server);
    await manager.expose(context, {
      namespace: 'tools',
      service: 'bulk',
      mappings: [{ localPort: port, remote: 9000 }],
    });
    const ip = await clusterIp('tools', 'bulk');
    const download = (): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = connect({ host: ip, port: 9000 });
        // A slow reader at first, so every buffer along the tunnel is full when the laptop hangs up.
        socket.once('data', () => {
          socket.pause();
          setTimeout(() => socket.resume(), 300);
        });
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve(Buffer.concat(chunks)));
        socket.on('error', reject);
      });
    await expect
      .poll(async () => (await download()).length, {
        timeout: 20_000,
        message: 'tools/bulk should reach the laptop',
      })
      .toBe(payload.length);
    expect((await download()).equals(payload)).toBe(true);
    // Nothing is held open afterwards: not the downloads, not the probes that hung up on the answer.
    await expect
      .poll(() => status('tools', 'bulk')?.counters.activeConnections, {
        timeout: 10_000,
        message: 'every finished call should be closed on the laptop too',
      })
      .toBe(0);
    await manager.unexpose(context.name, 'tools', 'bulk');
  });

  it('says nothing is listening when the local port is closed, keeps the tunnel up, and stops saying it once a server listens, across a reconnect', async () => {
    const closedPort = await freePort();
    await manager.expose(context, {
      namespace: 'tools',
      service: 'statsd',
      mappings: [{ localPort: closedPort, remote: 'admin' }],
    });
    const ip = await clusterIp('tools', 'statsd');
    await expect
      .poll(
        async () => {
          await callService(ip, 8126);
          return status('tools', 'statsd')?.reason;
        },
        { timeout: 15_000, message: 'the status should say nothing listens locally' },
      )
      .toBe(`nothing is listening on 127.0.0.1:${String(closedPort)}`);
    expect(status('tools', 'statsd')?.status).toBe('running');
    // The SSH pod goes and the tunnel is made again; the developer starts their server meanwhile.
    cluster.faults.deletePod('tools', status('tools', 'statsd')?.endpoint ?? '');
    await expect
      .poll(() => status('tools', 'statsd')?.counters.reconnects, {
        timeout: 30_000,
        message: 'the expose should make its tunnel again',
      })
      .toBeGreaterThanOrEqual(1);
    const late = createServer((socket) => socket.end('late but here\n'));
    await new Promise<void>((resolve) => late.listen(closedPort, '127.0.0.1', resolve));
    servers.push(late);
    await expect
      .poll(
        async () => {
          await callService(ip, 8126);
          return status('tools', 'statsd')?.reason;
        },
        { timeout: 30_000, message: 'the new tunnel should stop saying nothing listens' },
      )
      .toBe(takeoverLimits);
    await manager.unexpose(context.name, 'tools', 'statsd');
  });

  it('names each local port that refuses until it answers, and no port whose server resets a call', async () => {
    // 8080 goes to a server that reads the request and resets the connection; 9090 to nothing.
    const resetting = await freePort();
    const resetter = createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => resetter.listen(resetting, '127.0.0.1', resolve));
    servers.push(resetter);
    const closedPort = await freePort();
    await manager.expose(context, {
      namespace: 'web',
      service: 'api',
      mappings: [
        { localPort: resetting, remote: 'http' },
        { localPort: closedPort, remote: 'metrics' },
      ],
    });
    const ip = await clusterIp('web', 'api');
    const refused = `nothing is listening on 127.0.0.1:${String(closedPort)}`;
    await expect
      .poll(async () => callService(ip, 8080), {
        timeout: 20_000,
        message: 'calls to 8080 should reach the resetting laptop server',
      })
      .toBe('ECONNRESET');
    expect(status('web', 'api')?.reason, 'a reset call is not an unreachable laptop').toBe(takeoverLimits);
    await expect
      .poll(
        async () => {
          await callService(ip, 9090);
          return status('web', 'api')?.reason;
        },
        { timeout: 15_000, message: 'the status should name the port nothing listens on' },
      )
      .toBe(refused);
    // A call another port takes does not clear it: 9090 still refuses.
    expect(await callService(ip, 8080)).toBe('ECONNRESET');
    expect(status('web', 'api')?.reason).toBe(refused);
    const late = createServer((socket) => socket.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'));
    await new Promise<void>((resolve) => late.listen(closedPort, '127.0.0.1', resolve));
    servers.push(late);
    await callService(ip, 9090);
    await expect
      .poll(() => status('web', 'api')?.reason, {
        timeout: 5_000,
        message: 'the problem should clear once 9090 answers',
      })
      .toBe(takeoverLimits);
    await manager.unexpose(context.name, 'web', 'api');
  });

  it('recreates a deleted SSH pod and carries calls again', async () => {
    const local = await laptopServer('still the laptop');
    await manager.expose(context, {
      namespace: 'web',
      service: 'frontend',
      mappings: [{ localPort: local, remote: 80 }],
    });
    const ip = await clusterIp('web', 'frontend');
    await expect.poll(() => callService(ip, 80), { timeout: 20_000 }).toBe('still the laptop');
    const first = status('web', 'frontend')?.endpoint ?? '';
    cluster.faults.deletePod('web', first);
    await expect
      .poll(() => status('web', 'frontend')?.status, { timeout: 10_000, message: 'the expose should notice' })
      .not.toBe('running');
    await expect
      .poll(() => status('web', 'frontend')?.status, {
        timeout: 30_000,
        message: 'the expose should recover',
      })
      .toBe('running');
    expect(status('web', 'frontend')?.endpoint).not.toBe(first);
    expect(status('web', 'frontend')?.counters.reconnects).toBeGreaterThanOrEqual(1);
    await expect
      .poll(() => callService(ip, 80), { timeout: 20_000, message: 'calls should reach the laptop again' })
      .toBe('still the laptop');
    await manager.unexpose(context.name, 'web', 'frontend');
    expect(await replicas('web', 'frontend')).toBe(2);
  });

  it('refuses an SSH pod whose host key is not the pinned one, with a clear error', async () => {
    const local = await laptopServer('echo on the laptop');
    await manager.expose(context, {
      namespace: 'tools',
      service: 'echo',
      mappings: [{ localPort: local, remote: 7007 }],
    });
    const secretName = (
      await core.listNamespacedSecret({ namespace: 'tools', labelSelector: labels.session })
    ).items[0]?.metadata?.name;
    const impostor = generateEd25519KeyPair();
    await core.patchNamespacedSecret(
      {
        namespace: 'tools',
        name: secretName ?? '',
        body: { data: { host_key: Buffer.from(impostor.private).toString('base64') } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    cluster.faults.deletePod('tools', status('tools', 'echo')?.endpoint ?? '');
    await expect
      .poll(() => status('tools', 'echo')?.status, {
        timeout: 30_000,
        message: 'the expose should refuse the new key',
      })
      .toBe('failed');
    expect(status('tools', 'echo')?.reason).toMatch(
      /^The SSH pod presented host key SHA256:\S+, not SHA256:/,
    );
    await manager.unexpose(context.name, 'tools', 'echo');
    await expectNoLeftovers('tools');
  });

  it('exposes a service again straight after stopping, while the old SSH pod still terminates', async () => {
    const local = await laptopServer('again');
    const request = { namespace: 'tools', service: 'echo', mappings: [{ localPort: local, remote: 7007 }] };
    await manager.expose(context, request);
    // A finalizer holds the old pod in Terminating, as a slow node would.
    const old = status('tools', 'echo')?.endpoint ?? '';
    const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const hold = (finalizers: string[] | null) =>
      core.patchNamespacedPod(
        { namespace: 'tools', name: old, body: { metadata: { finalizers } } },
        mergePatch,
      );
    await hold(['test.localizer.dev/hold']);
    await manager.unexpose(context.name, 'tools', 'echo');
    expect(
      (await core.readNamespacedPod({ namespace: 'tools', name: old })).metadata?.deletionTimestamp,
    ).toBeTruthy();

    const again = await manager.expose(context, request);
    expect(again.status).toBe('running');
    await hold(null);
    await manager.unexpose(context.name, 'tools', 'echo');
    await expectNoLeftovers('tools');
  });

  it('refuses a service without a selector, a second expose, and an unknown port, changing nothing', async () => {
    await expect(
      manager.expose(context, { namespace: 'data', service: 'legacy-db', mappings: [] }),
    ).rejects.toThrow(/legacy-db has no selector/);
    await expect(
      manager.expose(context, { namespace: 'web', service: 'nope', mappings: [] }),
    ).rejects.toThrow(/There is no service web\/nope/);
    await expect(
      manager.expose(context, {
        namespace: 'web',
        service: 'api',
        mappings: [{ localPort: 3000, remote: 'grpc' }],
      }),
    ).rejects.toThrow(/web\/api has no port "grpc". Its TCP ports are: http \(8080\), metrics \(9090\)/);

    const local = await laptopServer('mine');
    await manager.expose(context, {
      namespace: 'web',
      service: 'api',
      mappings: [{ localPort: local, remote: 'http' }],
    });
    const other = new ExposeManager({
      clients: clients.forExposes(),
      stateDirectory: mkdtempSync(join(tmpdir(), 'other-')),
      owner: 'colleague@desk',
    });
    await expect(other.expose(context, { namespace: 'web', service: 'api', mappings: [] })).rejects.toThrow(
      /web\/api is already exposed by dev@laptop/,
    );
    // The colleague's cleanup leaves my live expose alone, and says why.
    const report = await other.recover(context);
    expect(report.done).toEqual([]);
    expect(report.skipped).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Service web\/api belongs to dev@laptop's expose/),
        expect.stringMatching(/SSH pod web\/localizer-api-\S+ belongs to dev@laptop's expose/),
      ]),
    );
    expect((await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec?.selector).not.toEqual({
      app: 'api',
    });
    await manager.unexpose(context.name, 'web', 'api');
    expect((await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec?.selector).toEqual({
      app: 'api',
    });
    expect(await replicas('web', 'api')).toBe(2);
  });

  it('says what the pod logged when its image runs no sshd, and changes nothing', async () => {
    const impatient = new ExposeManager({
      clients: clients.forExposes(),
      stateDirectory: mkdtempSync(join(tmpdir(), 'impatient-')),
      owner: 'dev@laptop',
      startTimeoutMs: 3_000,
    });
    await expect(
      impatient.expose(context, {
        namespace: 'tools',
        service: 'statsd',
        mappings: [],
        image: { image: 'localizer-test/echo-server', user: 'nobody', uid: 65534 },
      }),
    ).rejects.toThrow(
      /^sshd in the SSH pod localizer-statsd-\S+ did not answer on port 2222 within 3 s \(.*\)\. Its log ends: ".+"\. The SSH image setting \(now localizer-test\/echo-server\) must start \/usr\/sbin\/sshd/,
    );
    expect((await apps.readNamespacedDeployment({ namespace: 'tools', name: 'statsd' })).spec?.replicas).toBe(
      1,
    );
    await expectNoLeftovers('tools');
  });

  it('tells a user who may not create pods what permissions exposing needs, in each mode', async () => {
    const restricted = loadKubeContext({
      kubeconfig: cluster.kubeconfigPath,
      context: cluster.contexts.restricted,
    });
    await expect(
      manager.expose(restricted, { namespace: 'web', service: 'api', mappings: [] }),
    ).rejects.toThrow(
      /^Your account may not do all that an expose needs in namespace web: it may not create pods, delete pods, create secrets, delete secrets, patch services\. Nothing was changed\. deploy\/rbac\.yaml has every permission/,
    );
    await expect(
      manager.expose(restricted, { namespace: 'web', service: 'api', mappings: [], mode: 'scale-down' }),
    ).rejects.toThrow(
      /an expose with --scale-down needs in namespace web: it may not create pods, delete pods, create secrets, delete secrets, get deployments\.apps, list deployments\.apps, patch deployments\.apps, .*patch replicasets\.apps\. Nothing was changed/,
    );
    expect(await replicas('web', 'api')).toBe(2);
    expect((await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec?.selector).toEqual({
      app: 'api',
    });
    await expectNoLeftovers('web');
  });
});
