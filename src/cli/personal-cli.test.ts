/**
 * Personal intercepts as two developers run them: two `localizer expose --header` processes
 * with their own state directories, judged by clients nobody here wrote (curl over HTTP/1.1 and
 * h2c, a gRPC client from @grpc/grpc-js), `localizer status` naming who shares the router, a
 * third developer refused the value someone holds, and Ctrl-C of each giving the Service back
 * once the last one is gone.
 */
import { mkdtempSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import { freePort } from '../../e2e/support/sockets';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { kubeClients } from '../../e2e/support/kube-clients';
import { localizerKeys } from '../main/engine/kube/localizer-keys';
import { builtCli } from '../../e2e/support/built-localizer';

const nodeArgs = [builtCli];
let cluster: TestCluster;
let core: k8s.CoreV1Api;
const background: Background[] = [];
const closers: (() => void)[] = [];

/** Each developer's own Localizer: their state directory, and their name on what they change. */
function environment(state: string, owner = 'alice@laptop'): NodeJS.ProcessEnv {
  return { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster.kubeconfigPath, LOCALIZER_OWNER: owner };
}

function exposeAs(
  value: string,
  localPort: number,
  state = mkdtempSync(join(tmpdir(), `personal-${value}-`)),
) {
  const expose = runInBackground(
    process.execPath,
    [...nodeArgs, 'expose', 'web/api', '--map', `${String(localPort)}:http`, '--header', `x-dev=${value}`],
    { env: environment(state, `${value}@laptop`) },
  );
  background.push(expose);
  return { expose, state };
}

/** `exposeAs`, once it says it is exposed. */
async function exposed(value: string, localPort: number) {
  const started = exposeAs(value, localPort);
  await expect
    .poll(started.expose.output, { timeout: 60_000, message: `${value}'s expose` })
    .toContain('Exposed:');
  return started;
}

/** Alice's dev server: HTTP/1.1 and h2c on one port, told apart by the first bytes. */
async function devServer(name: string): Promise<number> {
  const answer = (version: string, path: string | undefined): string => `${name} ${version} ${path ?? ''}`;
  const h1 = createHttpServer((request, response) => response.end(answer('h1', request.url)));
  const h2 = createH2Server((request, response) => response.end(answer('h2', request.url)));
  const server: Server = createTcpServer((socket: Socket) => {
    socket.once('readable', () => {
      const first = (socket.read(3) as Buffer | null) ?? Buffer.alloc(0);
      socket.unshift(first);
      (first.toString() === 'PRI' ? h2 : h1).emit('connection', socket);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return port;
}

/** The one method of a gRPC service, with bytes as its messages (no .proto needed). */
const say = {
  path: '/demo.Greeter/Say',
  requestStream: false,
  responseStream: false,
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
} as const;

/** Bob's gRPC server on the laptop. */
async function grpcServer(name: string): Promise<number> {
  const server = new grpc.Server();
  server.addService(
    { Say: say },
    {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        callback(null, Buffer.from(`${name}: ${call.request.toString()}`)),
    },
  );
  const port = await freePort();
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${String(port)}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  closers.push(() => server.forceShutdown());
  return port;
}

/** One unary call through the Service's cluster IP, with `x-dev` in its metadata. */
function grpcCall(address: string, value: string, message: string): Promise<string> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('x-dev', value);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      say.path,
      say.requestSerialize,
      say.responseDeserialize,
      Buffer.from(message),
      metadata,
      { deadline: Date.now() + 10_000 },
      (error, answer) => {
        client.close();
        resolve(error ? `error: ${error.message}` : (answer?.toString() ?? ''));
      },
    );
  });
}

/** How a background command ended (after Ctrl-C, say), without hurrying it. */
function exitCode(background: Background): Promise<number | null> {
  const { child } = background;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function curl(args: string[]): Promise<string> {
  const result = await run('curl', ['-sS', '--max-time', '10', ...args]);
  return result.stdout + result.stderr;
}

async function routerObjectsLeft(): Promise<number> {
  const selector = { namespace: 'web', labelSelector: `${localizerKeys.role}=router` };
  const [pods, services, configMaps] = await Promise.all([
    core.listNamespacedPod(selector),
    core.listNamespacedService(selector),
    core.listNamespacedConfigMap(selector),
  ]);
  return (
    pods.items.filter((p) => !p.metadata?.deletionTimestamp).length +
    services.items.length +
    configMaps.items.length
  );
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux', 'haproxy', 'curl');
  cluster = await startTestCluster({ scenario: 'demo' });
  await cluster.waitForWorkloads();
  ({ core } = kubeClients(cluster.kubeconfigPath));
});
afterAll(async () => {
  for (const process of background) process.child.kill('SIGINT');
  await Promise.all(background.map((process) => process.stop()));
  for (const close of closers) close();
  await cluster.stop();
});

describe('localizer expose --header, two developers at once', () => {
  it('gives each developer their own requests, says who shares the router, and restores the Service after the last', async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const ip = before.spec?.clusterIP ?? '';
    const url = `http://${ip}:8080`;

    const alice = await exposed('alice', await devServer('alice'));
    const bob = await exposed('bob', await grpcServer('bob'));

    expect(await curl(['-H', 'x-dev: alice', `${url}/h1`])).toBe('alice h1 /h1');
    expect(await curl(['--http2-prior-knowledge', '-H', 'x-dev: alice', `${url}/h2c`])).toBe('alice h2 /h2c');
    expect(await grpcCall(`${ip}:8080`, 'bob', 'hello')).toBe('bob: hello');
    expect(await curl([`${url}/`]), 'no header: the pods').toContain('"namespace":"web"');

    const status = await run(process.execPath, [...nodeArgs, 'status'], { env: environment(alice.state) });
    expect(status.stdout).toMatch(/web\/api\s+personal\s+running\s+x-dev=alice\s+bob@laptop \(x-dev=bob\)/);

    // A third developer asks for a value someone holds: refused, naming them, nothing changed.
    const carol = await run(
      process.execPath,
      [
        ...nodeArgs,
        'expose',
        'web/api',
        '--header',
        'x-dev=alice',
        '--map',
        `${String(await freePort())}:http`,
      ],
      { env: environment(mkdtempSync(join(tmpdir(), 'personal-carol-')), 'carol@laptop') },
    );
    expect(carol.code).toBe(1);
    expect(carol.stderr).toMatch(/x-dev=alice on web\/api is already held by alice@laptop/);

    bob.expose.child.kill('SIGINT');
    expect(await exitCode(bob.expose)).toBe(0);
    expect(bob.expose.output()).toContain(
      "Stopped: requests with x-dev=bob go to the service's own pods again",
    );
    expect(await curl(['-H', 'x-dev: alice', `${url}/still`]), 'alice keeps her route').toBe(
      'alice h1 /still',
    );
    expect(await curl(['-H', 'x-dev: bob', `${url}/`]), "bob's requests: the pods").toContain(
      '"namespace":"web"',
    );

    alice.expose.child.kill('SIGINT');
    expect(await exitCode(alice.expose)).toBe(0);
    expect(alice.expose.output()).toContain(
      "Stopped: requests with x-dev=alice go to the service's own pods again",
    );
    const after = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata?.annotations ?? {}).toEqual(before.metadata?.annotations ?? {});
    await expect
      .poll(routerObjectsLeft, { timeout: 15_000, message: 'no router pod, origin Service or ConfigMap' })
      .toBe(0);
  });

  it("survives one developer's Localizer killed: the other keeps their route, the dead one's requests reach the pods, and cleanup ends it", async () => {
    const before = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    const ip = before.spec?.clusterIP ?? '';
    const url = `http://${ip}:8080`;
    const alice = await exposed('alice', await devServer('alice'));
    const bob = await exposed('bob', await devServer('bob'));

    alice.expose.child.kill('SIGKILL');
    await exitCode(alice.expose);
    // Her tunnel is gone with her process: her requests reach the pods, never an error page.
    await expect
      .poll(() => curl(['-H', 'x-dev: alice', `${url}/`]), {
        timeout: 20_000,
        message: "alice's requests should reach the pods",
      })
      .toContain('"namespace":"web"');
    expect(await curl(['-H', 'x-dev: bob', `${url}/b`]), 'bob keeps his route').toBe('bob h1 /b');

    // Bob leaves: alice's route (her Localizer may come back) keeps the router for her.
    bob.expose.child.kill('SIGINT');
    expect(await exitCode(bob.expose)).toBe(0);
    expect(await curl([`${url}/`]), 'everyone else still reaches the pods').toContain('"namespace":"web"');

    // Alice's next run (here `localizer cleanup`) ends what her killed one left.
    const cleanup = await run(process.execPath, [...nodeArgs, 'cleanup'], {
      env: environment(alice.state, 'alice@laptop'),
    });
    expect(cleanup.code, cleanup.stdout + cleanup.stderr).toBe(0);
    expect(cleanup.stdout).toMatch(
      /removed the router of web\/api, whose developers are gone, and gave web\/api its own selector back \(app=api\)/,
    );
    const after = await core.readNamespacedService({ namespace: 'web', name: 'api' });
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata?.annotations ?? {}).toEqual(before.metadata?.annotations ?? {});
    await expect
      .poll(routerObjectsLeft, { timeout: 15_000, message: 'no router pod, origin Service or ConfigMap' })
      .toBe(0);
  });
});
