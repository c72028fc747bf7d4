/**
 * A forward is a TCP connection: real clients nobody here wrote, that send and then shut down
 * their sending side (`nc -N`, Python's `shutdown(SHUT_WR)`, an HTTP/1.0 request), get the whole
 * answer through `localizer connect` on each port-forward transport, through the egress relay,
 * and through an expose. Each connect is the CLI as a user runs it, with
 * `LOCALIZER_PORT_FORWARD` set, and the test cluster's API server says which transport it served.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { field } from '../../e2e/cluster/api/objects';
import { resourceTypeOfKind } from '../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { pollUntil } from '../../e2e/support/poll';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import { freePort } from '../../e2e/support/sockets';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { portForwardTransports, type PortForwardTransport, type TunnelStatus } from '../shared/tunnel-status';
import { builtCli } from '../../e2e/support/built-localizer';

const nodeArgs = [builtCli];
let cluster: TestCluster;
let range: { cidr: string; release: () => void };
const background: Background[] = [];

/** Sends `request`, shuts down its sending side, and prints what came back: Python's socket module. */
const pythonHalfClose = [
  'import socket, sys',
  's = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)',
  's.sendall(sys.argv[3].encode().decode("unicode_escape").encode())',
  's.shutdown(socket.SHUT_WR)',
  'data = b""',
  'while True:',
  '    chunk = s.recv(65536)',
  '    if not chunk: break',
  '    data += chunk',
  'sys.stdout.write(data.decode())',
].join('\n');

/** `printf INPUT | nc -N HOST PORT`: netcat-openbsd sends, shuts down its side, prints the answer. */
function netcat(host: string, port: number, input: string) {
  return run('nc', ['-N', '-w', '10', host, String(port)], { input, timeoutMs: 20_000 });
}

function python(host: string, port: number, request: string) {
  return run('/usr/bin/python3', ['-c', pythonHalfClose, host, String(port), request], { timeoutMs: 20_000 });
}

function environment(state: string, transport?: PortForwardTransport): NodeJS.ProcessEnv {
  return {
    LOCALIZER_STATE_DIR: state,
    KUBECONFIG: cluster.kubeconfigPath,
    ...(transport ? { LOCALIZER_PORT_FORWARD: transport } : {}),
  };
}

async function list(state: string): Promise<TunnelStatus[]> {
  const listed = await run(process.execPath, [...nodeArgs, 'list', '--json'], { env: environment(state) });
  return JSON.parse(listed.stdout || '[]') as TunnelStatus[];
}

async function addressOf(state: string, name: string): Promise<string> {
  const tunnel = (await list(state)).find((t) => t.name === name);
  if (!tunnel?.ip) throw new Error(`${name} has no address in localizer list`);
  return tunnel.ip;
}

beforeAll(async () => {
  requireSystemTools('netcat', 'redis', 'python3');
  cluster = await startTestCluster({ scenario: 'demo' });
  range = takeLocalizerRange();
  await cluster.waitForWorkloads();
});
afterAll(async () => {
  for (const started of background) await started.stop();
  range.release();
  await cluster.stop();
});

describe('a client that half-closes, through localizer connect', () => {
  for (const transport of portForwardTransports) {
    it(`gets the whole answer over ${transport}, the transport the API server served`, async () => {
      const state = mkdtempSync(join(tmpdir(), 'half-close-'));
      const before = cluster.portForwardUpgrades();
      const connect = runInBackground(
        process.execPath,
        [...nodeArgs, 'connect', '--no-names', '--ip-range', range.cidr],
        { env: environment(state, transport) },
      );
      background.push(connect);
      await pollUntil(() => connect.output().includes('Connected:'), 30_000, `connect:\n${connect.output()}`);
      const redis = await addressOf(state, 'redis');

      // A real Redis answers a client that has already shut down its sending side.
      const ping = await netcat(redis, 6379, 'PING\r\n');
      expect(ping.stdout, ping.stderr).toBe('+PONG\r\n');
      const pipeline = await python(redis, 6379, 'SET greeting hello\\r\\nGET greeting\\r\\n');
      expect(pipeline.stdout, pipeline.stderr).toBe('+OK\r\n$5\r\nhello\r\n');
      const cli = await run('redis-cli', ['-h', redis, '-p', '6379', 'GET', 'greeting']);
      expect(cli.stdout.trim()).toBe('hello');

      // HTTP/1.0: the request, then the write side closed; the answer ends with the connection.
      const api = await addressOf(state, 'api');
      const http = await netcat(api, 8080, 'GET /half-close HTTP/1.0\r\nHost: api.web\r\n\r\n');
      expect(http.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*"path":"\/half-close"/);

      // The egress relay: an echo outside the cluster, reached through the relay pod.
      const legacy = await addressOf(state, 'legacy-db');
      const echoed = await netcat(legacy, 5432, 'through the relay\n');
      expect(echoed.stdout).toBe('legacy-db.corp.example: echo\nthrough the relay\n');

      const tunnels = await list(state);
      expect(tunnels.find((t) => t.name === 'redis')?.transport).toBe(transport);
      const after = cluster.portForwardUpgrades();
      for (const kind of portForwardTransports) {
        const served = after[kind] - before[kind];
        if (kind === transport) expect(served, `${kind} upgrades`).toBeGreaterThan(0);
        else expect(served, `${kind} upgrades while ${transport} was asked for`).toBe(0);
      }
      await connect.stop();
    });
  }
});

describe('a client in the cluster that half-closes, through localizer expose', () => {
  let laptop: Server;
  let laptopPort: number;

  beforeAll(async () => {
    // A laptop server that answers only once the caller has finished sending: it needs the FIN.
    laptopPort = await freePort();
    laptop = createServer({ allowHalfOpen: true }, (socket) => {
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      socket.on('end', () => socket.end(`got ${String(bytes)} bytes\n`));
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => laptop.listen(laptopPort, '127.0.0.1', resolve));
  });
  afterAll(() => {
    laptop.close();
  });

  it('passes the FIN on to the laptop, and the answer back', async () => {
    const state = mkdtempSync(join(tmpdir(), 'half-close-expose-'));
    const expose = runInBackground(
      process.execPath,
      [...nodeArgs, 'expose', 'web/api', '--map', `${String(laptopPort)}:http`],
      { env: environment(state) },
    );
    background.push(expose);
    await pollUntil(() => expose.output().includes('Exposed:'), 60_000, `expose:\n${expose.output()}`);
    const service = cluster.store.get(resourceTypeOfKind('Service'), 'web', 'api');
    const clusterIp = String(field(service ?? { metadata: {} }, 'spec', 'clusterIP'));

    const counted = await netcat(clusterIp, 8080, 'hello, laptop\n');
    expect(counted.stdout, counted.stderr).toBe('got 14 bytes\n');
    const fromPython = await python(clusterIp, 8080, 'twelve bytes');
    expect(fromPython.stdout, fromPython.stderr).toBe('got 12 bytes\n');
    await expose.stop();
  });
});
