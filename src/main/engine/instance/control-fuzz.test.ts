/**
 * The control socket under hostile input: 1,500 malformed, oversized, wrong-version and
 * out-of-schema requests, sent over the real socket to a real instance. Each must get a clear
 * refusal, and none may change anything: no connection, no expose, no file in the state
 * directory, no pollution of Object.prototype. A valid request still works afterwards.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlProtocolVersion, maxRequestBytes } from '../../../shared/control-protocol';
import { defaultSettings } from '../../../shared/settings';
import { controlSocketPath } from '../control/control-paths';
import { memorySettings, openLocalizer, type OpenedLocalizer } from '../open-localizer';

let opened: OpenedLocalizer;
let state: string;

beforeAll(async () => {
  state = mkdtempSync(join(tmpdir(), 'control-fuzz-'));
  opened = await openLocalizer({
    kind: 'daemon',
    stateDirectory: state,
    appInfo: { version: '0.0.0', platform: process.platform, electron: null },
    settings: memorySettings(defaultSettings),
  });
});
afterAll(async () => {
  await opened.close();
});

/** Sends raw bytes as one connection and resolves with every line the instance answered. */
function exchange(payload: Buffer | string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlSocketPath(state));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text.split('\n').filter(Boolean)));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The instance may hang up on an oversized request before reading it all.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') resolve(text.split('\n').filter(Boolean));
      else reject(error);
    });
    socket.end(payload);
  });
}

/** A small, seeded generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let value = seed;
  return () => {
    value = (value + 0x6d2b79f5) | 0;
    let t = Math.imul(value ^ (value >>> 15), 1 | value);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const validTemplates: Record<string, unknown>[] = [
  { op: 'status' },
  { op: 'list' },
  { op: 'disconnect', contexts: ['ctx'] },
  { op: 'unexpose', namespace: 'web', service: 'api' },
  {
    op: 'expose',
    source: {},
    namespace: 'web',
    service: 'api',
    mappings: [{ localPort: 3000, remote: 8080 }],
  },
  { op: 'connect', source: {}, contexts: [], names: false },
  { op: 'cleanup', source: {}, force: false },
  { op: 'api', method: 'getState', args: [] },
  { op: 'environment', source: {}, namespace: 'web', workload: 'deploy/orders', container: 'orders' },
];

const badNames = [
  '',
  'UPPER',
  '../etc',
  'a/b',
  '-lead',
  'x'.repeat(300),
  'ünï',
  'a b',
  'a\u0000b',
  42,
  null,
  [],
  {},
];
const badPorts = [0, -1, 65536, 1.5, '80', null, Number.MAX_SAFE_INTEGER];
const badValues = [null, true, 7, 'text', [], {}, [[[[[]]]]], 'x'.repeat(10_000)];

type Hostile = { payload: string | Buffer; codes: string[] };

function hostileRequests(count: number): Hostile[] {
  const next = random(20261202);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const line = (value: unknown): string => `${JSON.stringify(value)}\n`;
  const cases: Hostile[] = [];
  const generators: (() => Hostile)[] = [
    // Not JSON at all, or not an object.
    () => ({
      payload: Buffer.concat([
        Buffer.from(
          Array.from({ length: 1 + Math.floor(next() * 200) }, () => Math.floor(next() * 256)).filter(
            (b) => b !== 0x0a,
          ),
        ),
        Buffer.from('\n'),
      ]),
      codes: ['bad-request', 'version'],
    }),
    () => ({ payload: line(pick([1, 'status', null, [1, 2], true])), codes: ['bad-request'] }),
    // The wrong version, or none.
    () => {
      const { ...request } = pick(validTemplates);
      const version = pick([undefined, 0, 2, '1', 1.5, null, -1, controlProtocolVersion + 1]);
      return { payload: line({ ...request, v: version }), codes: ['version'] };
    },
    // An operation that does not exist.
    () => ({
      payload: line({ v: 1, op: pick(['rm', 'exec', '', 'STATUS', 7, null, '__proto__', 'constructor']) }),
      codes: ['bad-request'],
    }),
    // A valid request with one field made hostile.
    () => {
      const request: Record<string, unknown> = { v: 1, ...structuredClone(pick(validTemplates)) };
      const fields = Object.keys(request).filter((key) => key !== 'v' && key !== 'op');
      // Leaving out an optional field leaves a valid request.
      const required = fields.filter((key) => key !== 'container');
      const mutation = next();
      if (mutation < 0.2 || fields.length === 0)
        request[pick(['extra', 'command', 'shell', 'kubeconfigData'])] = pick(badValues);
      else if (mutation < 0.35 && required.length > 0) delete request[pick(required)];
      else {
        const field = pick(fields);
        if (field === 'namespace' || field === 'service') request[field] = pick(badNames);
        else if (field === 'mappings')
          request[field] = pick([
            [{ localPort: pick(badPorts), remote: 8080 }],
            [{ localPort: 3000, remote: pick([...badNames.slice(0, 9), ...badPorts.slice(0, 3)]) }],
            Array.from({ length: 65 }, () => ({ localPort: 3000, remote: 80 })),
            pick(badValues.slice(0, 3)),
          ]);
        else if (field === 'contexts')
          request[field] = pick([
            [pick(['', 'a\u0007b', 'x'.repeat(300)])],
            'ctx',
            Array.from({ length: 33 }, () => 'c'),
            [7],
          ]);
        else if (field === 'source')
          request[field] = pick([
            { kubeconfig: '' },
            { kubeconfig: 'a\u0000b' },
            { token: 'x' },
            'file',
            null,
          ]);
        else if (field === 'workload') request[field] = pick(['', 'a/b/c', 'Deploy/API', '../x', 5, null]);
        else if (field === 'container') request[field] = pick(badNames);
        else if (field === 'method') request[field] = pick(['exec', 'constructor', '__proto__', '', 5]);
        else if (field === 'args') request[field] = pick(['x', null, [1, 2, 3, 4, 5], {}]);
        else request[field] = pick(['yes', 1, null, []]);
      }
      return { payload: line(request), codes: ['bad-request'] };
    },
    // Prototype keys, which must be just unknown fields.
    () => ({ payload: `{"v":1,"op":"status","__proto__":{"polluted":true}}\n`, codes: ['bad-request'] }),
    () => ({
      payload: `{"v":1,"op":"list","constructor":{"prototype":{"polluted":true}}}\n`,
      codes: ['bad-request'],
    }),
    // Longer than any request: with and without its newline.
    () => ({ payload: 'x'.repeat(maxRequestBytes + 1 + Math.floor(next() * 4096)), codes: ['too-large'] }),
    () => ({
      payload: line({ v: 1, op: 'status', padding: 'y'.repeat(maxRequestBytes) }),
      codes: ['too-large'],
    }),
    // Valid in form, but the window API's own schema refuses the arguments.
    () => ({
      payload: line({ v: 1, op: 'api', method: 'selectContext', args: [pick(badValues)] }),
      codes: ['refused'],
    }),
    () => ({
      payload: line({
        v: 1,
        op: 'api',
        method: 'stopExpose',
        args: [{ namespace: pick(badNames), name: 'api' }],
      }),
      codes: ['refused'],
    }),
  ];
  while (cases.length < count) cases.push(pick(generators)());
  return cases;
}

describe('the control socket under hostile requests', () => {
  it('refuses each of 1,500 malformed, oversized and wrong-version requests clearly, and nothing changes', async () => {
    const before = { status: opened.instance.status(), files: readdirSync(state).sort() };
    const cases = hostileRequests(1500);
    const seen = new Map<string, number>();
    for (let start = 0; start < cases.length; start += 16) {
      const batch = cases.slice(start, start + 16);
      const answers = await Promise.all(batch.map((c) => exchange(c.payload)));
      answers.forEach((lines, index) => {
        const hostile = batch[index];
        const last = JSON.parse(lines.at(-1) ?? '{}') as {
          v?: number;
          ok?: boolean;
          code?: string;
          message?: string;
        };
        const shown = typeof hostile?.payload === 'string' ? hostile.payload.slice(0, 200) : '(bytes)';
        expect(last.ok, shown).toBe(false);
        expect(hostile?.codes, `${shown} got ${String(last.code)}: ${String(last.message)}`).toContain(
          last.code,
        );
        expect(last.v).toBe(controlProtocolVersion);
        // A refusal says what was wrong, in words.
        expect(last.message?.length ?? 0).toBeGreaterThan(10);
        seen.set(last.code ?? '', (seen.get(last.code ?? '') ?? 0) + 1);
      });
    }
    console.log(`hostile requests refused by code: ${JSON.stringify(Object.fromEntries(seen))}`);
    for (const code of ['bad-request', 'version', 'too-large', 'refused'])
      expect(seen.get(code) ?? 0).toBeGreaterThan(20);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(opened.instance.status()).toEqual(before.status);
    expect(opened.instance.tunnels()).toEqual([]);
    expect(readdirSync(state).sort()).toEqual(before.files);

    // Still serving: a valid request gets its answer.
    const [answer] = await exchange(`${JSON.stringify({ v: controlProtocolVersion, op: 'status' })}\n`);
    expect(JSON.parse(answer ?? '{}')).toMatchObject({
      ok: true,
      result: { instance: { kind: 'daemon', pid: process.pid } },
    });
  }, 120_000);

  it('refuses a connect whose kubeconfig does not exist, saying so, and connects nothing', async () => {
    const lines = await exchange(
      `${JSON.stringify({ v: 1, op: 'connect', source: { kubeconfig: '/nonexistent/config' }, contexts: [], names: false })}\n`,
    );
    expect(JSON.parse(lines.at(-1) ?? '{}')).toMatchObject({
      ok: false,
      code: 'refused',
      message: expect.stringContaining('No kubeconfig found at /nonexistent/config') as unknown,
    });
    expect(opened.instance.connectedContexts).toEqual([]);
  });
});
