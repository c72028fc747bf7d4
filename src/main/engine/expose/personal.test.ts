/**
 * Personal intercepts end to end against the test cluster: two developers (two Localizer
 * instances, two state directories) share web/api through one HAProxy router, each getting only
 * the requests that carry their header value, over HTTP/1.1 keep-alive, h2c and WebSocket, while
 * every other request goes to the Service's own pods. Calls go to the Service's cluster IP, as
 * a client in the cluster makes them (kube-proxy routes them).
 */
import { Agent, get, createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect as connectH2, createServer as createH2Server } from 'node:http2';
import { mkdtempSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { freePort } from '../../../../e2e/support/sockets';
import { expectNoExposeObjects } from '../../../../e2e/support/expose-leftovers';
import { requireSystemTools } from '../../../../e2e/support/system-tools';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';
import { localizerKeys } from '../kube/localizer-keys';
import { ExposeManager } from './expose-manager';
import { TestClients } from '../../../../e2e/support/test-clients';

/** Each manager's own clients, as each Localizer has; released after the file. */
const clients = new TestClients();

let cluster: TestCluster;
let context: KubeContext;
let core: k8s.CoreV1Api;
let alice: ExposeManager;
let bob: ExposeManager;
const servers: Server[] = [];

/**
 * A developer's server on the laptop, answering `NAME h1 /path` or `NAME h2 /path` on one port
 * (HTTP/1.1 and h2c told apart by the first bytes, as a dev server with h2c support does), and
 * echoing WebSocket messages as `NAME: message`.
 */
async function laptopServer(name: string): Promise<number> {
  const answer = (version: string, path: string | undefined): string => `${name} ${version} ${path ?? ''}`;
  const h1 = createHttpServer((request, response) => response.end(answer('h1', request.url)));
  const sockets = new WebSocketServer({ server: h1 });
  sockets.on('connection', (socket) =>
    socket.on('message', (data: Buffer) => socket.send(`${name}: ${data.toString()}`)),
  );
  const h2 = createH2Server((request, response) => response.end(answer('h2', request.url)));
  const port = await freePort();
  const server = createTcpServer((socket: Socket) => {
    // Read in paused mode and put back, so the chosen server sees the stream from its start.
    socket.once('readable', () => {
      const first = (socket.read(3) as Buffer | null) ?? Buffer.alloc(0);
      socket.unshift(first);
      (first.toString() === 'PRI' ? h2 : h1).emit('connection', socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push(server);
  return port;
}

/** One GET over HTTP/1.1: the body, or the error code. */
function call(ip: string, path: string, headers: IncomingHttpHeaders, agent: Agent | false): Promise<string> {
  return new Promise((resolve) => {
    const request = get({ host: ip, port: 8080, path, agent, headers, timeout: 5_000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.on('timeout', () => request.destroy(new Error('timeout')));
  });
}

/** One GET over h2c (prior knowledge) on an open h2 session. */
function callH2(
  session: ReturnType<typeof connectH2>,
  path: string,
  headers: Record<string, string>,
): Promise<string> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': path, ...headers });
    let body = '';
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('end', () => resolve(body));
    stream.on('error', (error: Error) => resolve(error.message));
  });
}

/** Opens a WebSocket through the Service and resolves with a function that sends and awaits the echo. */
async function openSocket(ip: string, headers: Record<string, string>) {
  const socket = new WebSocket(`ws://${ip}:8080/ws`, { headers });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    ask: (message: string) =>
      new Promise<string>((resolve, reject) => {
        socket.once('message', (data: Buffer) => resolve(data.toString()));
        socket.once('close', () => reject(new Error('the WebSocket closed')));
        socket.send(message);
      }),
  };
}

const fromPods = (answer: string): boolean => answer.includes('"namespace":"web"');

/**
 * A client in the cluster: a pod calling api.web by its cluster name over keep-alive
 * connections (Python's http.client, which neither retries nor reopens a connection the server
 * dropped), alternately without a header and as alice, opening a new connection every 20 rounds
 * as a pool with a maximum connection age does. One line per call.
 */
const inClusterCaller = `
import http.client, time
connection = None
rounds = 0
while True:
    rounds += 1
    if rounds % 20 == 0 and connection is not None:
        connection.close()
        connection = None
    for who, headers in (('none', {}), ('alice', {'x-dev': 'alice'})):
        try:
            if connection is None:
                connection = http.client.HTTPConnection('api.web.svc.cluster.local', 8080, timeout=5)
            connection.request('GET', '/from-a-pod', headers=headers)
            body = connection.getresponse().read().decode()
            print(who, 'pods' if '"namespace":"web"' in body else body.strip(), flush=True)
        except Exception as error:
            print(who, 'FAILED', repr(error), flush=True)
            connection = None
    time.sleep(0.05)
`;

async function startInClusterCaller(): Promise<string> {
  const name = 'personal-caller';
  await core.createNamespacedPod({
    namespace: 'web',
    body: {
      metadata: { name },
      spec: {
        containers: [{ name: 'caller', image: 'python:3.12', command: ['python3', '-c', inClusterCaller] }],
      },
    },
  });
  await expect
    .poll(() => cluster.logs('web', name).split('\n').length, {
      timeout: 20_000,
      message: 'the in-cluster caller should be calling',
    })
    .toBeGreaterThan(4);
  return name;
}

/** A teammate who never sends the header, calling without pause: on new connections or one kept alive. */
function bystander(ip: string, agent: Agent | false) {
  const answers: string[] = [];
  const calling = new AbortController();
  const done = (async () => {
    while (!calling.signal.aborted) answers.push(await call(ip, '/', {}, agent));
  })();
  return {
    answers,
    stop: async () => {
      calling.abort();
      await done;
    },
  };
}

async function routerObjectsLeft(namespace: string): Promise<string[]> {
  const selector = { namespace, labelSelector: `${localizerKeys.role}=router` };
  const [pods, services, configMaps] = await Promise.all([
    core.listNamespacedPod(selector),
    core.listNamespacedService(selector),
    core.listNamespacedConfigMap(selector),
  ]);
  return [
    ...pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => `pod ${p.metadata?.name ?? ''}`),
    ...services.items.map((s) => `service ${s.metadata?.name ?? ''}`),
    ...configMaps.items.map((c) => `configmap ${c.metadata?.name ?? ''}`),
  ];
}

/** A personal intercept of web/api's `http` port as `x-dev=VALUE`, to a new laptop server answering as VALUE (or to `localPort`). */
async function intercept(manager: ExposeManager, value: string, localPort?: number) {
  return manager.expose(context, {
    namespace: 'web',
    service: 'api',
    mappings: [{ localPort: localPort ?? (await laptopServer(value)), remote: 'http' }],
    header: { name: 'x-dev', value },
  });
}

async function expectRouterGone(message = 'the router should be gone'): Promise<void> {
  await expect.poll(() => routerObjectsLeft('web'), { timeout: 15_000, message }).toEqual([]);
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux', 'haproxy');
  cluster = await startTestCluster({ scenario: 'demo' });
  await cluster.waitForWorkloads();
  context = loadKubeContext({ kubeconfig: cluster.kubeconfigPath });
  core = context.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const manager = (owner: string): ExposeManager =>
    new ExposeManager({
      clients: clients.forExposes(),
      stateDirectory: mkdtempSync(join(tmpdir(), 'personal-state-')),
      owner,
      keepaliveIntervalMs: 1_000,
    });
  alice = manager('alice@laptop');
  bob = manager('bob@desk');
});
// A failed test leaves its exposes: the next one starts from an unexposed web/api.
afterEach(async () => {
  for (const manager of [alice, bob])
    for (const tunnel of manager.snapshot())
      await manager.unexpose(context.name, tunnel.namespace, tunnel.name).catch(() => undefined);
});
afterAll(async () => {
  await Promise.all([alice.stopAll(), bob.stopAll()]);
  for (const server of servers) server.close();
  clients.releaseAll();
  await cluster.stop();
});

describe('personal intercepts', () => {
  it('route each developer only their own requests, share one router, and give the Service back byte for byte', async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const ip = before.spec?.clusterIP ?? '';
    const pooledAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const bystanders = [bystander(ip, false), bystander(ip, pooledAgent)];
    const caller = await startInClusterCaller();
    const aliceStatus = await intercept(alice, 'alice');
    expect(aliceStatus).toMatchObject({ status: 'running', mode: 'personal' });
    expect(aliceStatus.reason).toMatch(/requests with x-dev=alice come here/);
    await intercept(bob, 'bob');
    expect(alice.snapshot()[0]?.reason, "alice's list names who shares the router").toMatch(
      /x-dev=alice come here.*(shared with bob@desk \(x-dev=bob\))?/,
    );

    // HTTP/1.1, one keep-alive connection carrying all three kinds of request in turn.
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const answers: string[] = [];
    for (let round = 0; round < 3; round++) {
      answers.push(await call(ip, '/a', { 'x-dev': 'alice' }, keepAlive));
      answers.push(await call(ip, '/b', { 'x-dev': 'bob' }, keepAlive));
      answers.push(await call(ip, '/none', {}, keepAlive));
      answers.push(await call(ip, '/other', { 'x-dev': 'carol' }, keepAlive));
    }
    for (let round = 0; round < 3; round++) {
      expect(answers[round * 4]).toBe('alice h1 /a');
      expect(answers[round * 4 + 1]).toBe('bob h1 /b');
      expect(answers[round * 4 + 2], 'a request without the header reaches the pods').toSatisfy(fromPods);
      expect(answers[round * 4 + 3], 'an unknown value reaches the pods').toSatisfy(fromPods);
    }

    // h2c with prior knowledge (as gRPC clients speak it): streams on one connection routed apart.
    const h2 = connectH2(`http://${ip}:8080`);
    try {
      const [a, b] = await Promise.all([
        callH2(h2, '/a2', { 'x-dev': 'alice' }),
        callH2(h2, '/b2', { 'x-dev': 'bob' }),
      ]);
      expect([a, b]).toEqual(['alice h2 /a2', 'bob h2 /b2']);
    } finally {
      h2.close();
    }

    // WebSocket upgrades, each to its own developer; alice's stays open while bob leaves.
    const aliceSocket = await openSocket(ip, { 'x-dev': 'alice' });
    const bobSocket = await openSocket(ip, { 'x-dev': 'bob' });
    expect(await aliceSocket.ask('hi')).toBe('alice: hi');
    expect(await bobSocket.ask('hi')).toBe('bob: hi');

    await bob.unexpose(context.name, 'web', 'api');
    expect(await aliceSocket.ask('still there?'), "bob leaving keeps alice's WebSocket open").toBe(
      'alice: still there?',
    );
    expect(await call(ip, '/a', { 'x-dev': 'alice' }, keepAlive), "and alice's keep-alive connection").toBe(
      'alice h1 /a',
    );
    expect(
      await call(ip, '/b', { 'x-dev': 'bob' }, keepAlive),
      "bob's requests go to the pods now",
    ).toSatisfy(fromPods);
    aliceSocket.socket.close();
    bobSocket.socket.terminate();
    keepAlive.destroy();

    await alice.unexpose(context.name, 'web', 'api');
    const callerSaw = cluster.logs('web', caller).trim().split('\n');
    await core.deleteNamespacedPod({ namespace: 'web', name: caller });
    expect(
      callerSaw.filter((line) => !/^(none pods|alice pods|alice alice h1 \/from-a-pod)$/.test(line)),
      `what the in-cluster caller saw that it should not have (of ${String(callerSaw.length)} calls)`,
    ).toEqual([]);
    expect(callerSaw, "the pod's calls as alice reached alice while she held her route").toContain(
      'alice alice h1 /from-a-pod',
    );
    for (const caller of bystanders) await caller.stop();
    pooledAgent.destroy();
    const answered = bystanders.flatMap((caller) => caller.answers);
    expect(
      answered.filter((answer) => !fromPods(answer)),
      `calls without the header that did not reach the pods (of ${String(answered.length)}, through both starts and stops)`,
    ).toEqual([]);
    const after = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata?.annotations ?? {}).toEqual(before.metadata?.annotations ?? {});
    expect(await call(ip, '/', {}, false)).toSatisfy(fromPods);
    await expectRouterGone();
    await expectNoExposeObjects(core, 'web');
  });

  it('refuses a value someone holds (naming them), and a takeover while personal intercepts run', async () => {
    const laptop = await laptopServer('alice');
    await intercept(alice, 'alice', laptop);
    await expect(intercept(bob, 'alice', laptop)).rejects.toThrow(
      /x-dev=alice on web\/api is already held by alice@laptop/,
    );
    await expect(
      bob.expose(context, {
        namespace: 'web',
        service: 'api',
        mappings: [{ localPort: laptop, remote: 'http' }],
      }),
    ).rejects.toThrow(/has personal intercepts .*--header NAME=VALUE to add yours/);
    await expect(
      bob.expose(context, {
        namespace: 'web',
        service: 'api',
        mappings: [{ localPort: laptop, remote: 'http' }],
        header: { name: 'x-user', value: 'bob' },
      }),
    ).rejects.toThrow(/already routed by header x-dev/);
    expect(bob.snapshot()).toEqual([]);
    await alice.unexpose(context.name, 'web', 'api');
    await expectRouterGone();
  });

  it("sends a developer's requests to the pods while their tunnel is down, and to them again once it is back", async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const ip = before.spec?.clusterIP ?? '';
    await intercept(alice, 'alice');
    const calls: string[] = [];
    const calling = new AbortController();
    const loop = (async () => {
      while (!calling.signal.aborted) calls.push(await call(ip, '/', { 'x-dev': 'alice' }, false));
    })();
    try {
      await expect
        .poll(() => calls.at(-1), { timeout: 10_000, message: 'alice is served' })
        .toBe('alice h1 /');
      // The SSH pod goes (evicted, a node drained): the tunnel drops until a new pod is up.
      const pod = alice.snapshot()[0]?.endpoint ?? '';
      await core.deleteNamespacedPod({ namespace: 'web', name: pod });
      await expect
        .poll(() => alice.snapshot()[0]?.reason ?? '', {
          timeout: 15_000,
          message: 'the list should say where her requests go meanwhile',
        })
        .toMatch(/meanwhile x-dev=alice requests go to the service's own pods/);
      await expect
        .poll(() => calls.at(-1) ?? '', {
          timeout: 20_000,
          message: "alice's requests reach the pods meanwhile",
        })
        .toSatisfy(fromPods);
      await expect
        .poll(() => calls.at(-1), { timeout: 60_000, message: 'and alice again once the tunnel is back' })
        .toBe('alice h1 /');
    } finally {
      calling.abort();
      await loop;
    }
    const failed = calls.filter((answer) => answer !== 'alice h1 /' && !fromPods(answer));
    expect(failed, `calls that failed (of ${String(calls.length)})`).toEqual([]);
    await alice.unexpose(context.name, 'web', 'api');
    expect((await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec).toEqual(before.spec);
  });

  it('ends every personal intercept, saying so, when someone reverts the selector, and leaves the revert alone', async () => {
    const ended: string[] = [];
    alice.on('ended', (_id, reason) => ended.push(`alice: ${reason}`));
    bob.on('ended', (_id, reason) => ended.push(`bob: ${reason}`));
    for (const [manager, value] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const)
      await intercept(manager, value);
    // A GitOps tool's self-heal puts the selector of the manifest back.
    await core.patchNamespacedService(
      { namespace: 'web', name: 'api', body: { spec: { selector: { app: 'api' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await expect
      .poll(() => ended.length, { timeout: 20_000, message: 'both intercepts should end by themselves' })
      .toBe(2);
    for (const reason of ended)
      expect(reason).toMatch(
        /Ended: the selector of web\/api was changed while its router held it \(now app=api.*\)\. Localizer left that change as it is\.$/,
      );
    const service = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    expect(service.spec?.selector).toEqual({ app: 'api' });
    expect(service.metadata?.annotations?.[localizerKeys.originalSelector]).toBeUndefined();
    await expectRouterGone();
    await expectNoExposeObjects(core, 'web');
  });

  it('lets two developers start at once, and one leave while another joins, each keeping their own route', async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const ip = before.spec?.clusterIP ?? '';
    const carol = new ExposeManager({
      clients: clients.forExposes(),
      stateDirectory: mkdtempSync(join(tmpdir(), 'personal-state-')),
      owner: 'carol@laptop',
      keepaliveIntervalMs: 1_000,
    });
    try {
      // Both find no router: one makes it, the other waits for it and joins.
      await Promise.all([intercept(alice, 'alice'), intercept(bob, 'bob')]);
      expect(await call(ip, '/', { 'x-dev': 'alice' }, false)).toBe('alice h1 /');
      expect(await call(ip, '/', { 'x-dev': 'bob' }, false)).toBe('bob h1 /');
      // Bob leaves as carol joins: carol may get bob's slot, and keeps it.
      await Promise.all([bob.unexpose(context.name, 'web', 'api'), intercept(carol, 'carol')]);
      expect(await call(ip, '/', { 'x-dev': 'carol' }, false)).toBe('carol h1 /');
      expect(await call(ip, '/', { 'x-dev': 'alice' }, false)).toBe('alice h1 /');
      expect(await call(ip, '/', { 'x-dev': 'bob' }, false)).toSatisfy(fromPods);
    } finally {
      await carol.stopAll();
    }
    await alice.unexpose(context.name, 'web', 'api');
    expect((await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec).toEqual(before.spec);
    await expectRouterGone();
  });

  it('makes the router pod again when it goes (evicted, a node drained), with the routes it had', async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const ip = before.spec?.clusterIP ?? '';
    await intercept(alice, 'alice');
    const [router] = (
      await core.listNamespacedPod({ namespace: 'web', labelSelector: `${localizerKeys.role}=router` })
    ).items;
    await core.deleteNamespacedPod({ namespace: 'web', name: router?.metadata?.name ?? '' });
    await expect
      .poll(
        async () =>
          (
            await core.listNamespacedPod({ namespace: 'web', labelSelector: `${localizerKeys.role}=router` })
          ).items.filter((pod) => pod.metadata?.name !== router?.metadata?.name).length,
        { timeout: 20_000, message: 'a new router pod should be made' },
      )
      .toBe(1);
    await expect
      .poll(() => call(ip, '/', { 'x-dev': 'alice' }, false), {
        timeout: 30_000,
        message: "alice's requests reach her again through the new router",
      })
      .toBe('alice h1 /');
    expect(await call(ip, '/', {}, false)).toSatisfy(fromPods);
    await alice.unexpose(context.name, 'web', 'api');
    expect((await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec).toEqual(before.spec);
    await expectRouterGone();
  });

  it('fails fast, saying how to fix it, when the router image cannot be pulled, and leaves nothing changed', async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    process.env.LOCALIZER_ROUTER_IMAGE = 'registry.invalid/haproxy:2.6';
    try {
      await expect(intercept(alice, 'alice')).rejects.toThrow(
        /The router pod web\/localizer-router-api-\w+ cannot start \(ErrImagePull.*set LOCALIZER_ROUTER_IMAGE/,
      );
    } finally {
      delete process.env.LOCALIZER_ROUTER_IMAGE;
    }
    const after = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata?.annotations ?? {}).toEqual(before.metadata?.annotations ?? {});
    await expectRouterGone('no router object should be left');
    await expectNoExposeObjects(core, 'web');
  });
});
