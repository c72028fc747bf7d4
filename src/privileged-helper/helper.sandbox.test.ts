/**
 * The real helper process, as root in a private mount namespace whose /etc/hosts is a temp file
 * of the test (bind-mounted), so nothing outside the sandbox is touched.
 */
import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchHelper, type LaunchedHelper } from '../main/engine/helper/helper-launcher';
import { helperLimits } from '../shared/helper-protocol';
import { findBlocks } from './hosts-block';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { builtHelper } from '../../e2e/support/built-localizer';

/** The built helper, as the app and the CLI start it. */
const entry = builtHelper;
const isRoot = process.getuid?.() === 0;
const range = '127.77.0.0/16';
const running: LaunchedHelper[] = [];

interface Sandbox {
  /** The file the helper sees as /etc/hosts. */
  hostsFile: string;
  socketDirectory: string;
  logs: string[];
}

/** `file`: /etc/hosts is itself a bind mount (rename fails with EBUSY). `directory`: /etc is one (rename works). */
function createSandbox(kind: 'file' | 'directory', original: string): Sandbox {
  const root = mkdtempSync(join(tmpdir(), 'helper-sandbox-'));
  const etc = join(root, 'etc');
  mkdirSync(etc);
  const hostsFile = join(etc, 'hosts');
  writeFileSync(hostsFile, original, { mode: 0o644 });
  const socketDirectory = join(root, 'run');
  mkdirSync(socketDirectory, { mode: 0o711 });
  chmodSync(socketDirectory, 0o711);
  chmodSync(root, 0o711);
  return { hostsFile, socketDirectory, logs: [] };
}

const testToken = 'test-token-0123456789abcdef';

async function launch(sandbox: Sandbox, kind: 'file' | 'directory', graceMs = 500): Promise<LaunchedHelper> {
  const source = kind === 'file' ? sandbox.hostsFile : join(sandbox.hostsFile, '..');
  const target = kind === 'file' ? '/etc/hosts' : '/etc';
  const script = `node="$1"; shift; mount --bind "$0" ${target} && exec "$node" ${JSON.stringify(entry)} "$@"`;
  const namespace = isRoot
    ? ['--mount', '--propagation', 'private']
    : ['--user', '--map-root-user', '--mount', '--propagation', 'private'];
  const helper = await launchHelper({
    command: 'unshare',
    args: [...namespace, '--fork', '--kill-child', '--', 'sh', '-c', script, source, process.execPath],
    socketDirectory: sandbox.socketDirectory,
    range,
    graceMs,
    elevation: 'direct',
    onLog: (line) => sandbox.logs.push(line),
    token: testToken,
  });
  running.push(helper);
  return helper;
}

afterEach(async () => {
  for (const helper of running.splice(0)) {
    helper.client.close();
    if (helper.process.exitCode === null) {
      helper.process.kill('SIGTERM');
      await new Promise((resolve) => helper.process.once('exit', resolve));
    }
  }
});

const tricky = {
  'foreign lines and comments':
    '# Static table lookup for hostnames.\n127.0.0.1\tlocalhost\n10.0.0.5 printer.lan # office\n',
  'no final newline': '127.0.0.1 localhost\n192.168.1.1 router',
  'CRLF lines': '127.0.0.1 localhost\r\n# edited on Windows\r\n10.1.1.1 nas\r\n',
};
const entries = [
  { ip: '127.77.0.1', names: ['api.web', 'api.web.svc', 'api.web.svc.cluster.local'] },
  { ip: '127.77.0.2', names: ['kv-0.kv.data', 'kv-0.kv.data.svc'] },
];

beforeAll(() => {
  requireSystemTools('utilLinux');
});
describe('the privileged helper in a sandbox', () => {
  for (const kind of ['file', 'directory'] as const) {
    it(`writes and removes its block byte-exactly when /etc/hosts is ${kind === 'file' ? 'a bind-mounted file (in-place)' : 'in a bind-mounted /etc (rename)'}`, async () => {
      const sandbox = createSandbox(kind, tricky['foreign lines and comments']);
      const helper = await launch(sandbox, kind);
      for (const original of Object.values(tricky)) {
        writeFileSync(sandbox.hostsFile, original);
        await helper.client.setHosts(entries);
        const written = readFileSync(sandbox.hostsFile, 'utf8');
        expect(written.startsWith(original)).toBe(true);
        expect(written).toContain('127.77.0.1\tapi.web api.web.svc api.web.svc.cluster.local');
        await helper.client.setHosts([]);
        expect(readFileSync(sandbox.hostsFile, 'utf8')).toBe(original);
      }
      const method = kind === 'file' ? 'in-place' : 'rename';
      expect(
        sandbox.logs.some((line) => line.includes(`"method":"${method}"`)),
        `the helper should have used ${method}`,
      ).toBe(true);
    });
  }

  it('keeps the file whole, old or new, when SIGKILLed at random points during hundreds of writes', async () => {
    const original = tricky['no final newline'];
    const sandbox = createSandbox('directory', original);
    const valid = new Set([original]);
    const { replaceBlock } = await import('./hosts-block');
    let writes = 0;
    for (let round = 0; round < 12; round++) {
      const helper = await launch(sandbox, 'directory');
      const session =
        sandbox.logs
          .map((l) => /"session":"([^"]+)"/.exec(l)?.[1])
          .filter(Boolean)
          .at(-1) ?? '';
      const pid = helper.client.hello.pid;
      // Killed after a random count of acknowledged writes, a random 0–3 ms into the next one:
      // counted in writes rather than time, so a loaded machine still exercises as many.
      const killAfterWrites = 10 + Math.floor(Math.random() * 30);
      let killer: NodeJS.Timeout | undefined;
      for (let i = 0; i < 200; i++) {
        const state = [{ ip: `127.77.${round}.${(i % 250) + 1}`, names: [`svc-${i}.round-${round}`] }];
        valid.add(replaceBlock(original, session, pid, state));
        if (i === killAfterWrites) killer = setTimeout(() => process.kill(pid, 'SIGKILL'), Math.random() * 3);
        try {
          await helper.client.setHosts(state);
          writes++;
        } catch {
          break;
        }
      }
      clearTimeout(killer);
      await new Promise((resolve) =>
        helper.process.exitCode === null ? helper.process.once('exit', resolve) : resolve(null),
      );
      const content = readFileSync(sandbox.hostsFile, 'utf8');
      expect(
        valid.has(content),
        `round ${round}: the file must be the old or a new content, never partial`,
      ).toBe(true);
    }
    console.log(
      `SIGKILL: 12 helpers killed during ${writes} acknowledged writes; every file read back whole`,
    );
    expect(writes).toBeGreaterThanOrEqual(12 * 10);
    // The next helper removes blocks left by killed ones.
    await launch(sandbox, 'directory');
    expect(findBlocks(readFileSync(sandbox.hostsFile, 'utf8'))).toEqual([]);
  });

  it('removes everything and exits when its client is killed', async () => {
    const original = tricky['CRLF lines'];
    const sandbox = createSandbox('directory', original);
    const helper = await launch(sandbox, 'directory', 2000);
    const socketPath = join(sandbox.socketDirectory, `${helper.session}.sock`);
    // A separate client process, killed with SIGKILL as a crashed app would be.
    const script = `
      const socket = require('net').connect(${JSON.stringify(socketPath)});
      socket.write(JSON.stringify({ id: 1, op: 'hello', version: 1, token: ${JSON.stringify(testToken)} }) + '\\n');
      socket.write(JSON.stringify({ id: 2, op: 'hosts.set', entries: ${JSON.stringify(entries)} }) + '\\n');
      let text = '';
      socket.on('data', (chunk) => { text += chunk; if (text.split('\\n').length > 2) console.log('set'); });
      setInterval(() => {}, 1000);`;
    const client = spawn(process.execPath, ['-e', script]);
    let out = '';
    client.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await expect
      .poll(() => out, { timeout: 10_000, message: 'the client process should set its names' })
      .toContain('set');
    helper.client.close();
    expect(readFileSync(sandbox.hostsFile, 'utf8')).toContain('api.web.svc.cluster.local');
    client.kill('SIGKILL');
    await expect
      .poll(() => readFileSync(sandbox.hostsFile, 'utf8'), {
        timeout: 10_000,
        message: 'the block should be gone',
      })
      .toBe(original);
    await expect
      .poll(() => helper.process.exitCode, {
        timeout: 10_000,
        message: 'the helper should exit after its grace period',
      })
      .toBe(0);
  });

  it('refuses a connection from another user', async () => {
    if (!isRoot) {
      console.log('skipped: needs real root to run a client as another uid (setpriv)');
      return;
    }
    const sandbox = createSandbox('directory', tricky['foreign lines and comments']);
    const helper = await launch(sandbox, 'directory');
    const socketPath = join(sandbox.socketDirectory, `${helper.session}.sock`);
    const result = await new Promise<string>((resolve) => {
      const child = spawn('setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        `require('net').connect(${JSON.stringify(socketPath)}).on('error', (e) => { console.log(e.code); process.exit(0) }).on('connect', () => { console.log('connected'); process.exit(0) })`,
      ]);
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('close', () => resolve(out.trim()));
    });
    expect(result).toBe('EACCES');
  });

  it('relays a privileged port to the engine’s listener on the same address', async () => {
    if (!isRoot) {
      console.log('skipped: binding port 80 outside a network namespace needs real root');
      return;
    }
    const sandbox = createSandbox('directory', tricky['foreign lines and comments']);
    const helper = await launch(sandbox, 'directory');
    const ip = '127.77.9.9';
    const engine = createServer((socket) => socket.end('from the engine\n'));
    await new Promise<void>((resolve) => engine.listen(0, ip, resolve));
    const targetPort = (engine.address() as AddressInfo).port;
    await helper.client.setRelays([{ ip, port: 80, targetPort }]);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      connect({ host: ip, port: 80 })
        .on('data', (chunk: Buffer) => (text += chunk.toString()))
        .on('end', () => resolve(text))
        .on('error', reject);
    });
    expect(answer).toBe('from the engine\n');
    await helper.client.setRelays([]);
    engine.close();
  });
  it('relays a privileged UDP port, each client getting its own replies from that port', async () => {
    if (!isRoot) {
      console.log('skipped: binding port 53 outside a network namespace needs real root');
      return;
    }
    const sandbox = createSandbox('directory', tricky['foreign lines and comments']);
    const helper = await launch(sandbox, 'directory');
    const ip = '127.77.9.10';
    // The engine's socket answers each datagram with who sent it (as the engine sees it) and what.
    const engine = createSocket('udp4');
    engine.on('message', (datagram, from) =>
      engine.send(`${from.address}:${String(from.port)} ${datagram.toString()}`, from.port, from.address),
    );
    await new Promise<void>((resolve) => engine.bind(0, ip, resolve));
    await helper.client.setRelays([{ ip, port: 53, targetPort: engine.address().port, protocol: 'udp' }]);
    const ask = (socket: Socket, text: string): Promise<{ reply: string; from: number }> =>
      new Promise((resolve) => {
        socket.once('message', (reply, sender) => resolve({ reply: reply.toString(), from: sender.port }));
        socket.send(text, 53, ip);
      });
    const clients = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<Socket>((resolve) => {
            const socket = createSocket('udp4');
            socket.bind(0, '127.0.0.1', () => resolve(socket));
          }),
      ),
    );
    const [first, second] = clients as [Socket, Socket];
    const answers = [await ask(first, 'one'), await ask(second, 'two'), await ask(first, 'three')];
    expect(answers.map((a) => a.from)).toEqual([53, 53, 53]);
    const sender = (answer: { reply: string }): string => answer.reply.split(' ')[0] ?? '';
    expect(answers.map((a) => a.reply.split(' ')[1])).toEqual(['one', 'two', 'three']);
    // The engine saw two clients, each from the relay's address, the first one twice.
    expect(sender(answers[0] ?? { reply: '' })).toBe(sender(answers[2] ?? { reply: '' }));
    expect(sender(answers[0] ?? { reply: '' })).not.toBe(sender(answers[1] ?? { reply: '' }));
    expect(sender(answers[1] ?? { reply: '' })).toMatch(/^127\.77\.9\.10:/);
    for (const socket of clients) socket.close();
    await helper.client.setRelays([]);
    engine.close();
  });
});

describe('fuzzing the helper with hostile requests', () => {
  it('refuses 10,000 generated hostile requests with a clear error and leaves the hosts file unchanged', async () => {
    const original = tricky['foreign lines and comments'];
    const sandbox = createSandbox('directory', original);
    const helper = await launch(sandbox, 'directory', 5000);
    const socketPath = join(sandbox.socketDirectory, `${helper.session}.sock`);
    const tokenLess = await fuzzWrongTokens(socketPath, 200);
    expect(tokenLess).toEqual({ refused: 200, accepted: 0 });
    const oversized = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(socketPath, () => socket.write('x'.repeat(helperLimits.maxFrameBytes + 10)));
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    expect(oversized).toContain('"code":"bad-frame"');

    // One authenticated raw connection, for requests our own client would never send.
    const requests = hostileRequests(10_000);
    const responses = await rawSession(socketPath, requests);
    const refused = responses.filter(
      (r) => r.ok === false && typeof r.message === 'string' && r.message.length > 10,
    );
    const byCode = new Map<string, number>();
    for (const r of refused) byCode.set(String(r.code), (byCode.get(String(r.code)) ?? 0) + 1);
    console.log(
      `fuzz: ${requests.length} hostile requests, ${refused.length} refused`,
      Object.fromEntries(byCode),
    );
    expect(responses).toHaveLength(requests.length);
    expect(refused).toHaveLength(requests.length);
    expect(readFileSync(sandbox.hostsFile, 'utf8')).toBe(original);
    await expect(helper.client.setHosts(entries)).resolves.toBeUndefined();
  });
});

async function fuzzWrongTokens(
  socketPath: string,
  count: number,
): Promise<{ refused: number; accepted: number }> {
  let refused = 0;
  let accepted = 0;
  for (let i = 0; i < count; i++) {
    const wrong = i % 2 === 0 ? `guess-${i}-${'x'.repeat(i % 40)}` : 'a'.repeat(43);
    const line = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(socketPath, () =>
        socket.write(`${JSON.stringify({ id: 1, op: 'hello', version: 1, token: wrong })}\n`),
      );
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    const response = JSON.parse(line.split('\n')[0] ?? '{}') as { ok?: boolean; code?: string };
    if (response.ok === false && response.code === 'unauthenticated') refused++;
    else accepted++;
  }
  return { refused, accepted };
}

/** Authenticates with the launch token and pipelines `requests` on one raw connection. */
async function rawSession(
  socketPath: string,
  requests: string[],
): Promise<{ ok?: boolean; code?: string; message?: string }[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let text = '';
    const responses: { ok?: boolean; code?: string; message?: string }[] = [];
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      let newline: number;
      while ((newline = text.indexOf('\n')) >= 0) {
        responses.push(JSON.parse(text.slice(0, newline)) as { ok?: boolean });
        text = text.slice(newline + 1);
        if (responses.length === requests.length + 1) {
          socket.destroy();
          resolve(responses.slice(1));
        }
      }
    });
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(`${JSON.stringify({ id: 0, op: 'hello', version: 1, token: testToken })}\n`);
      for (const request of requests) socket.write(`${request}\n`);
    });
  });
}

function pick<T>(items: readonly T[], i: number): T {
  return items[i % items.length] as T;
}

/** Requests no honest client sends: injections, out-of-range addresses, oversized lists, junk. */
function hostileRequests(count: number): string[] {
  const badNames = [
    'evil\nname',
    'a b',
    'tab\there',
    'cr\rlf',
    'nul\u0000byte',
    'UPPER.case',
    'under_score',
    '-lead.x',
    'trail-.x',
    'a..b',
    '',
    'x'.repeat(64),
    `${'a.'.repeat(130)}a`,
    'ünïcode.x',
    '127.0.0.1 evil.com',
    '#comment',
    'a/b',
  ];
  const badIps = [
    '127.0.0.1',
    '10.0.0.1',
    '8.8.8.8',
    '999.1.1.1',
    '127.77.0.1 evil',
    '::1',
    '127.077.0.1',
    '127.78.0.1',
    ' 127.77.0.1',
    '127.77.0.1\n',
    '0.0.0.0',
    '255.255.255.255',
  ];
  const generators: ((i: number) => unknown)[] = [
    (i) => ({ id: i, op: 'hosts.set', entries: [{ ip: '127.77.0.1', names: [pick(badNames, i)] }] }),
    (i) => ({ id: i, op: 'hosts.set', entries: [{ ip: pick(badIps, i), names: ['ok.name'] }] }),
    (i) => ({ id: i, op: 'alias.add', ip: pick(badIps, i) }),
    (i) => ({ id: i, op: 'relays.set', relays: [{ ip: pick(badIps, i), port: 80, targetPort: 8080 }] }),
    (i) => ({
      id: i,
      op: 'relays.set',
      relays: [{ ip: '127.77.0.1', port: pick([0, 1024, 65536, -1, 80.5], i), targetPort: 8080 }],
    }),
    (i) => ({
      id: i,
      op: 'relays.set',
      relays: [{ ip: '127.77.0.1', port: 80, targetPort: pick([22, 0, 80, 70000], i) }],
    }),
    (i) => ({ id: i, op: pick(['rm', 'exec', 'hosts.write', 'HELLO', '__proto__', 'constructor', ''], i) }),
    (i) => ({
      id: i,
      op: 'hosts.set',
      entries: [{ ip: '127.77.0.1', names: ['ok.name'], path: '/etc/shadow' }],
    }),
    (i) => ({ id: i, op: 'hosts.set', hostsPath: '/etc/passwd', entries: [] }),
    (i) => ({ id: i, op: 'hosts.set', entries: 'not a list' }),
    (i) => ({ id: -i - 1, op: 'ping' }),
    (i) => ({ id: i, op: 'hello', version: 1, token: 'again' }),
    (i) => ({
      id: i,
      op: 'hosts.set',
      entries: [
        {
          ip: '127.77.0.1',
          names: Array.from({ length: helperLimits.maxNamesPerEntry + 1 }, (_, k) => `n${k}.x`),
        },
      ],
    }),
    (i) => ({ id: i, op: 'hosts.set', entries: [{ ip: '127.77.0.1', names: [] }] }),
    (i) => ({ id: i, __proto__: { op: 'cleanup' } }),
  ];
  const frames: ((i: number) => string)[] = [
    (i) => `{"id":${i},"op":"hosts.set",`,
    () => 'null',
    () => '[1,2,3]',
    () => '"string"',
    () => '\u0001\u0002garbage',
  ];
  const requests: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 500 === 7) {
      // Oversized: more entries than the limit allows.
      const entriesList = Array.from({ length: helperLimits.maxEntries + 1 }, (_, k) => ({
        ip: '127.77.0.1',
        names: [`n${k}.x`],
      }));
      requests.push(JSON.stringify({ id: i, op: 'hosts.set', entries: entriesList }));
    } else if (i % 10 === 3) {
      requests.push(pick(frames, Math.floor(i / 10))(i));
    } else {
      requests.push(JSON.stringify(pick(generators, i)(i)));
    }
  }
  return requests;
}
