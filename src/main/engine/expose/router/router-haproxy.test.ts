/**
 * The router's configuration and runtime API commands run by a real HAProxy (Debian's, the
 * image's 2.6 branch) on this machine, without a cluster: a developer joins and leaves a running
 * router, a keep-alive connection carries their requests and everyone else's, a laptop that goes
 * away sends its requests to the origin, and a closing router closes keep-alive connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../../../e2e/support/poll';
import { requireSystemTools } from '../../../../../e2e/support/system-tools';
import { applyRoutes, routerConnections, runRouterCommands, type AdminDialer } from './router-admin';
import {
  closingCommands,
  notAnswering,
  renderRouterConfig,
  routerAdminPort,
  type RouterPort,
} from './router-config';

/** The router's own loopback, as the pod's would be: an address no other test uses. */
const podAddress = '127.0.0.61';
const servers: Server[] = [];
let haproxy: ChildProcess;
let output = '';
let port: RouterPort;
let laptopPort: number;
let laptop: Server;

async function answering(name: string, at = 0): Promise<Server> {
  const server = createServer((request, response) => response.end(`${name} ${request.url ?? ''}`));
  await new Promise<void>((resolve) => server.listen(at, '127.0.0.1', resolve));
  servers.push(server);
  return server;
}

const portOf = (server: Server): number => (server.address() as AddressInfo).port;
const admin: AdminDialer = () => Promise.resolve(connect(routerAdminPort, podAddress));

/** One GET through the router: `status body`, and whether the answer closed its connection. */
function call(path: string, headers: Record<string, string>, agent: Agent | false) {
  return new Promise<{ body: string; closes: boolean }>((resolve, reject) => {
    const request = httpRequest(
      { host: podAddress, port: port.listenPort, path, headers, agent, timeout: 5_000 },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ body, closes: response.headers.connection === 'close' }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

const alice = () => ({
  slot: 0,
  value: 'alice',
  address: '127.0.0.1',
  ports: { [String(port.servicePort)]: laptopPort },
});

beforeAll(async () => {
  requireSystemTools('haproxy');
  const origin = await answering('origin');
  laptop = await answering('alice');
  laptopPort = portOf(laptop);
  const listen = await answering('placeholder');
  const listenPort = portOf(listen);
  await new Promise<void>((resolve) => listen.close(() => resolve()));
  // The origin Service's port is the Service's: here, the origin server's own.
  port = { servicePort: portOf(origin), listenPort, name: 'http', kind: 'http' };
  const directory = mkdtempSync(join(tmpdir(), 'router-'));
  writeFileSync(
    join(directory, 'haproxy.cfg'),
    renderRouterConfig({ header: 'x-dev', ports: [port], originAddress: '127.0.0.1', slots: 2, routes: [] }),
  );
  writeFileSync(join(directory, 'routes.map'), '');
  writeFileSync(join(directory, 'flags.map'), '');
  haproxy = spawn('/usr/sbin/haproxy', ['-db', '-f', join(directory, 'haproxy.cfg')], {
    cwd: directory,
    env: { POD_IP: podAddress, LOCALIZER_POD_LOOPBACK: podAddress, PATH: process.env.PATH ?? '' },
  });
  haproxy.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  haproxy.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Started once its runtime API answers (the answer names the routes map).
  let maps = '';
  const answered = (): boolean => maps.includes('routes.map');
  void (async () => {
    while (!answered() && haproxy.exitCode === null) {
      maps = await runRouterCommands(admin, ['show map']).catch(() => '');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  await pollUntil(answered, 10_000, `HAProxy to answer on its runtime API (it said: ${output})`);
});

afterAll(() => {
  haproxy.kill('SIGKILL');
  for (const server of servers) server.close();
});

describe('a router run by HAProxy', () => {
  it('refuses, in words, a change that names no such server', async () => {
    await expect(applyRoutes(admin, [{ ...alice(), slot: 5 }], [port], 8)).rejects.toThrow(
      /the router refused a change \(No such (server|backend)/,
    );
  });

  it('keeps the later of two routes maps prepared at once', async () => {
    const first = /New version created: (\d+)/.exec(
      await runRouterCommands(admin, ['prepare map routes.map']),
    );
    expect(await applyRoutes(admin, [], [port], 2)).toBe(true);
    const stale = await runRouterCommands(admin, [
      `add map @${first?.[1] ?? ''} routes.map alice s0`,
      `commit map @${first?.[1] ?? ''} routes.map`,
    ]);
    expect(stale).toMatch(/out of range/);
    expect(await runRouterCommands(admin, ['show map routes.map'])).not.toContain('alice');
  });

  it('routes a joined value to its laptop and every other request to the origin, on one keep-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await call('/a', { 'x-dev': 'alice' }, agent)).body, 'before alice joins').toBe('origin /a');
    expect(await applyRoutes(admin, [alice()], [port], 2)).toBe(true);
    const answers = [];
    const asked: Record<string, string>[] = [
      { 'x-dev': 'alice' },
      {},
      { 'x-dev': 'bob' },
      { 'x-dev': 'alice' },
    ];
    for (const headers of asked) answers.push((await call('/x', headers, agent)).body);
    expect(answers).toEqual(['alice /x', 'origin /x', 'origin /x', 'alice /x']);
    expect(await applyRoutes(admin, [], [port], 2)).toBe(true);
    expect((await call('/b', { 'x-dev': 'alice' }, agent)).body, 'after alice left').toBe('origin /b');
    agent.destroy();
  });

  it("says in words, to whoever sent the header, that nothing answers on the developer's machine", async () => {
    // A tunnel that is up with nothing behind it: sshd accepts, the laptop refuses, the channel closes.
    const silent = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as AddressInfo).port;
    await applyRoutes(admin, [{ ...alice(), ports: { [String(port.servicePort)]: silentPort } }], [port], 2);
    const answer = await call('/', { 'x-dev': 'alice' }, false);
    expect(answer.body).toBe(`${notAnswering.replace('\\n', '')}\n`);
    expect((await call('/', {}, false)).body, 'everyone else: the origin').toBe('origin /');
    await applyRoutes(admin, [], [port], 2);
    silent.close();
  });

  it("sends a developer's requests to the origin, none failing, once their laptop is gone", async () => {
    await applyRoutes(admin, [alice()], [port], 2);
    expect((await call('/', { 'x-dev': 'alice' }, false)).body).toBe('alice /');
    await new Promise<void>((resolve) => laptop.close(() => resolve()));
    laptop.closeAllConnections();
    const answers: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++)
      answers.push((await call('/', { 'x-dev': 'alice' }, false)).body);
    expect(
      answers.every((answer) => answer === 'origin /'),
      answers.join(', '),
    ).toBe(true);
  });

  it('closes keep-alive connections once closing, and counts the connections it holds', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await call('/', {}, agent)).closes).toBe(false);
    expect(await routerConnections(admin)).toBe(1);
    await runRouterCommands(admin, closingCommands());
    expect((await call('/', {}, agent)).closes, 'an answer while closing closes its connection').toBe(true);
    await expect
      .poll(() => routerConnections(admin), { timeout: 5_000, message: 'no connection should be left' })
      .toBe(0);
    agent.destroy();
  });
});
