/**
 * The egress relay against the demo cluster, with real clients: what port-forward cannot reach
 * (a name outside the cluster, a selector-less service's outside address, a UDP port) answers
 * from its real target through a real relay pod running the real Python program.
 */
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../../../e2e/support/address-ranges';
import { pollUntil } from '../../../../e2e/support/poll';
import { getJson } from '../../../../e2e/support/sockets';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import { ConnectEngine, type ConnectEngineOptions } from '../connect/connect-engine';
import { loadKubeContext } from '../kube/kube-context';
import { TestClients } from '../../../../e2e/support/test-clients';

/** Each engine's own clients, as each Localizer has; released after the file. */
const clients = new TestClients();

const pods = resourceTypeOfKind('Pod');
let cluster: TestCluster;
const engines: ConnectEngine[] = [];
const ranges: { release: () => void }[] = [];

function relayPods(namespace?: string): string[] {
  return cluster.store
    .list(pods, namespace)
    .map((p) => p.metadata.name ?? '')
    .filter((name) => name.startsWith('localizer-relay-'));
}

async function startEngine(
  options: Partial<ConnectEngineOptions> & { context?: string } = {},
): Promise<ConnectEngine> {
  const range = takeLocalizerRange();
  ranges.push(range);
  const { context, ...rest } = options;
  const kubeContext = loadKubeContext({
    kubeconfig: cluster.kubeconfigPath,
    ...(context ? { context } : {}),
  });
  const engine = new ConnectEngine({
    kubeContext,
    clients: clients.forEngine(kubeContext),
    stateDirectory: mkdtempSync(join(tmpdir(), 'relay-state-')),
    ipRange: range.cidr,
    clusterDomain: 'cluster.local',
    namespaces: [],
    excludeNamespaces: [],
    sync: undefined,
    relays: { enabled: true, owner: 'relay-test@localhost' },
    ...rest,
  });
  engines.push(engine);
  await engine.start();
  return engine;
}

function forward(engine: ConnectEngine, namespace: string, name: string): TunnelStatus | undefined {
  return engine.snapshot().find((s) => s.namespace === namespace && s.name === name);
}

function address(engine: ConnectEngine, namespace: string, name: string): string {
  const ip = forward(engine, namespace, name)?.ip;
  if (!ip) throw new Error(`${namespace}/${name} has no address`);
  return ip;
}

/** What a TCP server says first, then its echo of `payload`, once both have arrived. */
function greetingAndEcho(host: string, port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write(payload));
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.endsWith(payload)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.setTimeout(20_000, () => reject(new Error(`no answer from ${host}:${String(port)} within 20 s`)));
  });
}

/**
 * A UDP client that sends `count` datagrams, each naming itself and its number, and collects what
 * comes back until every one has, or the deadline.
 */
function udpClient(
  host: string,
  port: number,
  name: string,
  count: number,
  timeoutMs = 20_000,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const replies: string[] = [];
    const timer = setTimeout(() => {
      socket.close();
      reject(
        new Error(
          `${name} got ${String(replies.length)} of ${String(count)} replies within ${String(timeoutMs)} ms`,
        ),
      );
    }, timeoutMs);
    socket.on('message', (reply) => {
      replies.push(reply.toString());
      if (replies.length === count) {
        clearTimeout(timer);
        socket.close();
        resolve(replies);
      }
    });
    socket.on('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      for (let i = 0; i < count; i++) socket.send(`${name}#${String(i)}`, port, host);
    });
  });
}

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
});
afterAll(async () => {
  for (const engine of engines) await engine.stop();
  clients.releaseAll();
  await cluster.stop();
  for (const range of ranges) range.release();
});

describe('egress relay', () => {
  let engine: ConnectEngine;

  it('makes no relay pod before the first connection, and says where traffic will go', async () => {
    engine = await startEngine();
    await pollUntil(() => forward(engine, 'data', 'billing')?.status === 'running', 15_000, 'billing to run');
    expect(forward(engine, 'data', 'billing')?.reason).toBe(
      'through the egress relay, made on the first connection: 8080/tcp to billing.example.com:8080',
    );
    expect(forward(engine, 'tools', 'statsd')?.reason).toMatch(/8125\/udp to 127\.\d+\.\d+\.\d+:8125/);
    expect(relayPods()).toEqual([]);
  });

  it('reaches an ExternalName service and a selector-less one at their outside targets', async () => {
    const billing = await getJson(address(engine, 'data', 'billing'), 8080, '/invoices');
    expect(billing).toMatchObject({ pod: 'billing.example.com', path: '/invoices' });
    const legacy = await greetingAndEcho(address(engine, 'data', 'legacy-db'), 5432, 'SELECT 1;');
    expect(legacy).toBe('legacy-db.corp.example: echo\nSELECT 1;');
    expect(relayPods()).toHaveLength(1);
    expect(forward(engine, 'data', 'billing')?.reason).toMatch(
      /^through the egress relay \(pod localizer-relay-/,
    );
    expect(forward(engine, 'data', 'billing')?.counters.connections).toBe(1);
  });

  it('gives each of 3 UDP clients its own 50 replies, none merged or crossed', async () => {
    const ip = address(engine, 'tools', 'statsd');
    const results = await Promise.all(
      ['alpha', 'bravo', 'charlie'].map((name) => udpClient(ip, 8125, name, 50)),
    );
    for (const [index, name] of ['alpha', 'bravo', 'charlie'].entries()) {
      const expected = Array.from({ length: 50 }, (_, i) => `${name}#${String(i)}`);
      expect([...(results[index] ?? [])].sort()).toEqual(expected.sort());
    }
  });

  it('answers UDP again after its relay container is killed', async () => {
    const [relay] = relayPods('tools');
    expect(cluster.faults.killContainer('tools', relay ?? '', 'relay', 'SIGKILL')).toBe(true);
    const ip = address(engine, 'tools', 'statsd');
    // UDP has no connection to fail: keep asking, as a metrics client keeps sending.
    const deadline = Date.now() + 20_000;
    let answered: string[] | undefined;
    while (!answered && Date.now() < deadline)
      answered = await udpClient(ip, 8125, 'after-kill', 1, 500).catch(() => undefined);
    expect(answered).toEqual(['after-kill#0']);
  });

  it('reaches a service added while connected, through a new relay pod that may reach it', async () => {
    const [first] = relayPods('data');
    cluster.registry.create(resourceTypeOfKind('Service'), 'data', {
      metadata: { name: 'warehouse' },
      spec: { type: 'ExternalName', externalName: 'legacy-db.corp.example', ports: [{ port: 5432 }] },
    });
    await pollUntil(
      () => forward(engine, 'data', 'warehouse')?.status === 'running',
      15_000,
      'warehouse to run',
    );
    const answer = await greetingAndEcho(address(engine, 'data', 'warehouse'), 5432, 'ping');
    expect(answer).toBe('legacy-db.corp.example: echo\nping');
    // The first pod may reach the targets of its day only, so another took over; the first goes
    // once its last connection has.
    await pollUntil(() => !relayPods('data').includes(first ?? ''), 15_000, 'the replaced relay pod to go');
    expect(relayPods('data')).toHaveLength(1);
    expect(await getJson(address(engine, 'data', 'billing'), 8080)).toMatchObject({
      pod: 'billing.example.com',
    });
  });

  it('replaces a relay pod deleted from outside on the next connection', async () => {
    const [current] = relayPods('data');
    cluster.faults.deletePod('data', current ?? '');
    await pollUntil(() => !relayPods('data').includes(current ?? ''), 10_000, 'the relay pod to be deleted');
    expect(await getJson(address(engine, 'data', 'billing'), 8080)).toMatchObject({
      pod: 'billing.example.com',
    });
    expect(relayPods('data')).toHaveLength(1);
    expect(relayPods('data')).not.toContain(current);
  });

  it('deletes its relay pods and its record when connect stops', async () => {
    const stateDirectory = mkdtempSync(join(tmpdir(), 'relay-stop-'));
    const own = await startEngine({
      stateDirectory,
      relays: { enabled: true, owner: 'relay-test@localhost' },
    });
    await pollUntil(() => forward(own, 'data', 'billing')?.status === 'running', 15_000, 'billing to run');
    const before = new Set(relayPods());
    await getJson(address(own, 'data', 'billing'), 8080);
    const made = relayPods().filter((name) => !before.has(name));
    expect(made).toHaveLength(1);
    expect(readdirSync(join(stateDirectory, 'exposes'))).toHaveLength(1);
    await own.stop();
    expect(relayPods().filter((name) => made.includes(name))).toEqual([]);
    expect(existsSync(join(stateDirectory, 'exposes')), 'no record is left, nor their folder').toBe(false);
  });

  it('deletes an idle relay pod, and makes a new one on the next connection', async () => {
    const idle = await startEngine({ relays: { enabled: true, owner: 'relay-test@localhost', idleMs: 300 } });
    await pollUntil(() => forward(idle, 'data', 'billing')?.status === 'running', 15_000, 'billing to run');
    const before = new Set(relayPods());
    await getJson(address(idle, 'data', 'billing'), 8080);
    const first = relayPods().filter((name) => !before.has(name));
    expect(first).toHaveLength(1);
    await pollUntil(() => !relayPods().includes(first[0] ?? ''), 10_000, 'the idle relay pod to be deleted');
    expect(await getJson(address(idle, 'data', 'billing'), 8080)).toMatchObject({
      pod: 'billing.example.com',
    });
    await idle.stop();
  });

  it('skips the relayed services, naming the image, when the relay image cannot be pulled', async () => {
    const image = 'registry.example.com/missing/python:3';
    const broken = await startEngine({ relays: { enabled: true, owner: 'relay-test@localhost', image } });
    await pollUntil(() => forward(broken, 'data', 'billing')?.status === 'running', 15_000, 'billing to run');
    // The first caller finds out; every later one sees the forward skipped, with the fix.
    await expect(getJson(address(broken, 'data', 'billing'), 8080)).rejects.toThrow();
    await pollUntil(
      () => forward(broken, 'data', 'billing')?.status === 'skipped',
      15_000,
      'billing to be skipped',
    );
    expect(forward(broken, 'data', 'billing')?.reason).toMatch(
      new RegExp(
        `cannot start \\(ErrImagePull.*set a relay image this cluster can pull.*now ${image.replaceAll('.', '\\.')}`,
      ),
    );
    expect(forward(broken, 'data', 'legacy-db')?.status).toBe('skipped');
    await broken.stop();
    await pollUntil(
      () => !cluster.store.list(pods).some((p) => JSON.stringify(p).includes(image)),
      10_000,
      'the relay pod that could not start to be deleted',
    );
  });

  it('keeps them skipped, saying so, with relays off', async () => {
    const off = await startEngine({ relays: { enabled: false, owner: 'relay-test@localhost' } });
    await pollUntil(
      () => forward(off, 'data', 'billing')?.status === 'skipped',
      15_000,
      'billing to be listed',
    );
    expect(forward(off, 'data', 'billing')?.reason).toMatch(/relays are off \(--no-relays\)$/);
    expect(forward(off, 'data', 'legacy-db')?.reason).toMatch(/relays are off \(--no-relays\)$/);
    expect(forward(off, 'tools', 'statsd')?.reason).toBe(
      'UDP port 8125 skipped: relays are off (--no-relays)',
    );
    await off.stop();
  });

  it('skips a relayed service, naming the permission, where the account may not create pods', async () => {
    cluster.registry.create(resourceTypeOfKind('Service'), 'web', {
      metadata: { name: 'payments' },
      spec: {
        type: 'ExternalName',
        externalName: 'billing.example.com',
        ports: [{ name: 'http', port: 8080 }],
      },
    });
    const before = relayPods().length;
    const restricted = await startEngine({ context: cluster.contexts.restricted });
    await pollUntil(
      () => forward(restricted, 'web', 'payments')?.status === 'skipped',
      15_000,
      'web/payments to be skipped',
    );
    expect(forward(restricted, 'web', 'payments')?.reason).toMatch(
      /^a relay pod is needed, and your account may not create pods in namespace web .*ask for create and delete on pods there, or turn relays off \(--no-relays\)$/,
    );
    expect(forward(restricted, 'web', 'payments')?.ip).toBeNull();
    expect(relayPods()).toHaveLength(before);
    await restricted.stop();
  });
});
