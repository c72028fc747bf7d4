/** The connect engine against a real test cluster, reached by IP (names are the helper's job). */
import { mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../../../e2e/support/address-ranges';
import { pollUntil } from '../../../../e2e/support/poll';
import { startSteadyLoad } from '../../../../e2e/faults/steady-load';
import { echoRoundTrip, getJson, randomPayload, connectOutcome } from '../../../../e2e/support/sockets';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import { loadKubeContext } from '../kube/kube-context';
import { makeClusterApis } from '../kube/cluster-apis';
import { createPodDialer } from '../kube/pod-dialer';
import { ConnectEngine, type ConnectEngineOptions } from './connect-engine';
import { TestClients } from '../../../../e2e/support/test-clients';

/** Each engine's own clients, as each Localizer has; released after the file. */
const clients = new TestClients();

let cluster: TestCluster;
let engine: ConnectEngine;

function forward(namespace: string, name: string): TunnelStatus | undefined {
  return engine.snapshot().find((s) => s.namespace === namespace && s.name === name);
}

function ipOf(namespace: string, name: string): string {
  const ip = forward(namespace, name)?.ip;
  if (!ip) throw new Error(`${namespace}/${name} has no address`);
  return ip;
}

/** A tiny exchange with the bulk server: upload 5 bytes, read its answer. */
function getJsonFromBulk(ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ip, port: 9000 }, () => socket.write('RECV 5\nhello'));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text.trim()));
    socket.on('error', reject);
    socket.setTimeout(5000, () => reject(new Error('the bulk pod did not answer within 5 s')));
  });
}

const ranges: { release: () => void }[] = [];

/**
 * An engine on the test cluster without a helper (so nothing is written to /etc/hosts), on a
 * loopback /16 of its own that no engine or cluster in another test file can share.
 */
function createEngine(options: Partial<ConnectEngineOptions> & { context?: string } = {}): ConnectEngine {
  const range = takeLocalizerRange();
  ranges.push(range);
  const { context, ...rest } = options;
  const kubeContext = loadKubeContext({
    kubeconfig: cluster.kubeconfigPath,
    ...(context ? { context } : {}),
  });
  return new ConnectEngine({
    kubeContext,
    clients: clients.forEngine(kubeContext),
    stateDirectory: mkdtempSync(join(tmpdir(), 'engine-state-')),
    ipRange: range.cidr,
    clusterDomain: 'cluster.local',
    namespaces: [],
    excludeNamespaces: [],
    sync: undefined,
    ...rest,
  });
}

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  engine = createEngine();
  await engine.start();
  await pollUntil(() => forward('web', 'api')?.status === 'running', 15_000, 'web/api to be running');
});
afterAll(async () => {
  await engine.stop();
  clients.releaseAll();
  await cluster.stop();
  for (const range of ranges) range.release();
});

describe('connect engine', () => {
  it('shows every demo service with a status and a reason', () => {
    const byName = Object.fromEntries(engine.snapshot().map((s) => [`${s.namespace}/${s.name}`, s]));
    expect(byName['web/frontend']).toMatchObject({
      status: 'running',
      hostnames: ['frontend.web', 'frontend.web.svc', 'frontend.web.svc.cluster.local'],
    });
    // This engine runs without relays (relay.test.ts has them), so it says why it skips these.
    expect(byName['data/billing']?.status).toBe('skipped');
    expect(byName['data/billing']?.reason).toMatch(/^ExternalName service.*relays are off/);
    expect(byName['data/legacy-db']?.status).toBe('skipped');
    expect(byName['data/legacy-db']?.reason).toMatch(/^no selector.*relays are off/);
    expect(byName['tools/statsd']).toMatchObject({
      status: 'running',
      reason: 'UDP port 8125 skipped: relays are off (--no-relays)',
    });
    expect(byName['data/kv-1.kv']).toMatchObject({ status: 'running', endpoint: 'kv-1' });
  });

  it('spreads connections over both replicas through a named targetPort', async () => {
    const ip = ipOf('web', 'api');
    const pods = new Set<string>();
    for (let i = 0; i < 4; i++) pods.add(String((await getJson(ip, 9090, '/metrics')).pod));
    expect(pods.size).toBe(2);
  });

  it('reaches each StatefulSet pod on its own address', async () => {
    for (const pod of ['kv-0', 'kv-1', 'kv-2']) {
      expect(await getJson(ipOf('data', `${pod}.kv`), 6379)).toMatchObject({ pod, namespace: 'data' });
    }
  });

  it('carries 4 MiB through an echo pod unchanged and counts the bytes', async () => {
    const payload = randomPayload(4 * 1024 * 1024);
    const echoed = await echoRoundTrip(ipOf('tools', 'echo'), 7007, payload);
    expect(echoed.equals(payload)).toBe(true);
    await expect
      .poll(() => forward('tools', 'echo')?.counters.bytesIn, { timeout: 5000 })
      .toBeGreaterThanOrEqual(payload.length);
  });

  it('stops the pod sending when a caller abandons a large download midway', async () => {
    const ip = ipOf('tools', 'bulk');
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: ip, port: 9000 }, () =>
        socket.write(`SEND ${String(64 * 1024 ** 3)}\n`),
      );
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 8 * 1024 * 1024) {
          socket.destroy();
          resolve();
        }
      });
      socket.on('error', reject);
    });
    // The pod's end closes too, rather than streaming 64 GiB into the void.
    const pod = forward('tools', 'bulk')?.endpoint ?? '';
    await expect
      .poll(() => cluster.logs('tools', pod), {
        timeout: 10_000,
        message: 'the bulk pod should see its client go away',
      })
      .toMatch(/client went away after \d+ of 68719476736 bytes/);
    expect(await getJsonFromBulk(ip)).toBe('OK 5');
  });

  it('closes an open connection cleanly when its pod dies, rather than leaving it hanging', async () => {
    const ip = ipOf('tools', 'echo');
    const socket = connect({ host: ip, port: 7007 });
    let closed = false;
    let errored = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => (errored = true));
    socket.write('hello');
    await new Promise((resolve) => socket.once('data', resolve));
    cluster.faults.deletePod('tools', forward('tools', 'echo')?.endpoint ?? '');
    await expect
      .poll(() => closed, { timeout: 10_000, message: 'the caller should see the connection end' })
      .toBe(true);
    expect(errored).toBe(false);
    await expect
      .poll(
        async () =>
          (await echoRoundTrip(ip, 7007, Buffer.from('again')).catch(() => Buffer.alloc(0))).toString(),
        { timeout: 20_000 },
      )
      .toBe('again');
  });

  it('goes to a live pod after the serving pod is deleted', async () => {
    const ip = ipOf('tools', 'echo');
    const before = forward('tools', 'echo')?.endpoint ?? '';
    cluster.faults.deletePod('tools', before);
    await expect
      .poll(
        async () =>
          (await echoRoundTrip(ip, 7007, Buffer.from('ping')).catch(() => Buffer.alloc(0))).toString(),
        { timeout: 20_000 },
      )
      .toBe('ping');
    expect(forward('tools', 'echo')?.endpoint).not.toBe(before);
  });

  it('picks up a service added while connected, and drops one removed', async () => {
    const services = resourceTypeOfKind('Service');
    cluster.registry.create(services, 'web', {
      metadata: { name: 'late' },
      spec: { selector: { app: 'frontend' }, ports: [{ port: 8081, targetPort: 8080 }] },
    });
    await expect.poll(() => forward('web', 'late')?.status, { timeout: 5000 }).toBe('running');
    expect(await getJson(ipOf('web', 'late'), 8081)).toMatchObject({ namespace: 'web' });
    cluster.registry.delete(services, 'web', 'late');
    await expect.poll(() => forward('web', 'late'), { timeout: 5000 }).toBeUndefined();
  });

  it('refuses connections while a service has no ready pod, and says why', async () => {
    const deployments = resourceTypeOfKind('Deployment');
    const scale = (replicas: number) => {
      const deployment = cluster.store.get(deployments, 'tools', 'bulk');
      if (!deployment?.spec) throw new Error('no bulk deployment');
      deployment.spec.replicas = replicas;
      cluster.store.update(deployments, deployment, { bumpGeneration: true });
    };
    const ip = ipOf('tools', 'bulk');
    scale(0);
    await expect.poll(() => forward('tools', 'bulk')?.status, { timeout: 15_000 }).toBe('waiting');
    expect(await connectOutcome(ip, 9000)).toBe('ECONNREFUSED');
    scale(1);
    await expect.poll(() => forward('tools', 'bulk')?.status, { timeout: 15_000 }).toBe('running');
  });

  it("says a forward's port is taken and how to free it, and takes it by itself once it frees", async () => {
    // A first run gives tools/echo its address; a program then takes echo's port on it.
    const range = takeLocalizerRange();
    ranges.push(range);
    const state = mkdtempSync(join(tmpdir(), 'engine-state-'));
    const first = createEngine({ stateDirectory: state, ipRange: range.cidr });
    await first.start();
    await pollUntil(() => first.snapshot().some((s) => s.name === 'echo' && s.ip), 15_000, 'tools/echo');
    const ip = first.snapshot().find((s) => s.name === 'echo')?.ip ?? '';
    await first.stop();
    const squatter = createServer((socket) => socket.end('not the cluster'));
    await new Promise<void>((resolve) => squatter.listen(7007, ip, resolve));

    const second = createEngine({ stateDirectory: state, ipRange: range.cidr });
    try {
      await second.start();
      const echo = () => second.snapshot().find((s) => s.namespace === 'tools' && s.name === 'echo');
      await expect.poll(() => echo()?.status, { timeout: 15_000 }).toBe('failed');
      expect(echo()?.reason).toBe(
        `${ip}:7007 is in use by another program, often one listening on all addresses (0.0.0.0:7007); bind that program to 127.0.0.1 or stop it, and this forward starts by itself`,
      );
      expect(second.snapshot().find((s) => s.name === 'api')?.status, 'other services are unaffected').toBe(
        'running',
      );
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
      await expect
        .poll(() => echo()?.status, { timeout: 10_000, message: 'the forward should take the freed port' })
        .toBe('running');
      const payload = randomPayload(1024);
      expect((await echoRoundTrip(ip, 7007, payload)).equals(payload)).toBe(true);
    } finally {
      squatter.close();
      await second.stop();
    }
  });

  it('connects a user who may read only one namespace to that namespace, and says so', async () => {
    const restricted = createEngine({ context: cluster.contexts.restricted });
    try {
      await restricted.start();
      await expect
        .poll(() => restricted.snapshot().find((s) => s.name === 'frontend')?.status, { timeout: 15_000 })
        .toBe('running');
      expect(new Set(restricted.snapshot().map((s) => s.namespace))).toEqual(new Set(['web']));
      expect(restricted.health.reason).toContain('only namespace web is connected');
      // The bare name belongs to the context's own namespace.
      expect(restricted.snapshot().find((s) => s.name === 'frontend')?.hostnames[0]).toBe('frontend');
      expect(
        await getJson(restricted.snapshot().find((s) => s.name === 'api')?.ip ?? '', 8080),
      ).toMatchObject({ namespace: 'web' });
    } finally {
      await restricted.stop();
    }
  });

  it('keeps its addresses when the API server restarts, with no duplicate or stale entries', async () => {
    const before = engine.snapshot().map((s) => `${s.namespace}/${s.name}=${s.ip ?? ''}`);
    await cluster.faults.restartApiServer(300);
    cluster.faults.expireWatchHistory();
    await expect.poll(() => engine.health.state, { timeout: 30_000 }).toBe('connected');
    const services = resourceTypeOfKind('Service');
    cluster.registry.create(services, 'web', {
      metadata: { name: 'after-restart' },
      spec: { selector: { app: 'frontend' }, ports: [{ port: 8082, targetPort: 8080 }] },
    });
    await expect.poll(() => forward('web', 'after-restart')?.status, { timeout: 40_000 }).toBe('running');
    const after = engine
      .snapshot()
      .map((s) => `${s.namespace}/${s.name}=${s.ip ?? ''}`)
      .filter((s) => !s.startsWith('web/after-restart'));
    expect(after).toEqual(before);
  });
});

describe('after sleep', () => {
  it('gives up a port-forward connection that went quiet, so the next call opens a new one', async () => {
    const { kubeConfig } = loadKubeContext({ kubeconfig: cluster.kubeconfigPath });
    const dialer = createPodDialer(kubeConfig, { streamOpenTimeoutMs: 1_000 });
    const quiet = createEngine({
      namespaces: ['tools'],
      clients: { apis: makeClusterApis(kubeConfig), dialer },
    });
    const echo = () => quiet.snapshot().find((s) => s.name === 'echo');
    try {
      await quiet.start();
      await expect.poll(() => echo()?.status, { timeout: 15_000 }).toBe('running');
      const ip = echo()?.ip ?? '';
      expect((await echoRoundTrip(ip, 7007, Buffer.from('before'))).toString()).toBe('before');
      // The session to the pod stays open, but the other end stops answering, as after a sleep.
      cluster.faults.setPortForward('freeze');
      let during: string;
      try {
        during = await echoRoundTrip(ip, 7007, Buffer.from('hello?')).then(
          (answer) => answer.toString(),
          (error: unknown) => (error as NodeJS.ErrnoException).code ?? String(error),
        );
      } finally {
        cluster.faults.setPortForward('normal');
      }
      expect(['', 'ECONNRESET'], 'the call should end, not hang on the dead session').toContain(during);
      expect(echo()?.lastError).toMatch(/did not answer a new port-forward within 1 s/);
      expect((await echoRoundTrip(ip, 7007, Buffer.from('after'))).toString()).toBe('after');
    } finally {
      await quiet.stop();
      // Given to the engine, so not the engine's to close.
      dialer.close();
    }
  });

  it('notices the clock jump once, watches afresh, and keeps every forward and address, under load', async () => {
    let offset = 0;
    const logs: string[] = [];
    const sleeper = createEngine({
      namespaces: ['tools', 'web'],
      now: () => Date.now() + offset,
      wakeCheckMs: 20,
      log: (message) => logs.push(message),
    });
    try {
      await sleeper.start();
      await expect
        .poll(() => sleeper.snapshot().find((s) => s.name === 'echo')?.status, { timeout: 15_000 })
        .toBe('running');
      const before = sleeper.snapshot().map((s) => `${s.name}=${s.ip ?? ''}`);
      // A caller every 100 ms through the wake: only calls within 1 s of it may fail.
      const load = startSteadyLoad(sleeper.snapshot().find((s) => s.name === 'api')?.ip ?? '', 8080);
      await pollUntil(
        () => load.outcomes.filter((o) => o.ok).length >= 3,
        10_000,
        'good calls before the jump',
      );
      const jumpedAt = Date.now();
      offset += 3_600_000;
      await expect
        .poll(() => sleeper.wakeUps, { timeout: 5000, message: 'the jump should be noticed' })
        .toBe(1);
      expect(logs.some((l) => l.includes('the clock jumped 3600 s'))).toBe(true);
      await expect.poll(() => sleeper.health.state, { timeout: 15_000 }).toBe('connected');
      expect(sleeper.wakeUps, 'one jump, one restart: no storm').toBe(1);
      expect(sleeper.snapshot().map((s) => `${s.name}=${s.ip ?? ''}`)).toEqual(before);
      const echo = sleeper.snapshot().find((s) => s.name === 'echo')?.ip ?? '';
      expect((await echoRoundTrip(echo, 7007, Buffer.from('awake'))).toString()).toBe('awake');
      await pollUntil(() => Date.now() > jumpedAt + 3000, 10_000, 'the load to run 3 s past the jump');
      await load.stop();
      expect(load.failuresSince(jumpedAt + 1000).map((o) => o.error)).toEqual([]);
      expect(load.firstSuccessSince(jumpedAt + 1000)).toBeDefined();
    } finally {
      await sleeper.stop();
    }
  });
});
