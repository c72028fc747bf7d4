/**
 * A gRPC client (grpc-js: HTTP/2, many calls on one connection, streams both ways) through
 * `localizer connect`, as a laptop service calls a cluster one: calls side by side on one
 * channel, a long server stream, a stream cancelled half-way (the channel goes on), a
 * bidirectional echo, and the pod under an open channel deleted (the channel reconnects and
 * reaches another pod). The CLI as a user runs it; the server is the test cluster's gRPC image.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../e2e/cluster/api/resources';
import {
  deployment,
  images,
  namespace as namespaceObject,
  service,
} from '../../e2e/cluster/scenarios/builders';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { builtCli } from '../../e2e/support/built-localizer';
import { pollUntil } from '../../e2e/support/poll';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import type { TunnelStatus } from '../shared/tunnel-status';

const text = {
  serialize: (value: string) => Buffer.from(value),
  deserialize: (value: Buffer) => value.toString(),
};
const path = (name: string) => `/localizer.test.Lines/${name}`;

let cluster: TestCluster | undefined;
// Undefined until beforeAll gets to them, which a failure there may not.
let range: { cidr: string; release: () => void } | undefined;
let connect: Background | undefined;
let channel: grpc.Client | undefined;

function lines(): grpc.Client {
  if (!channel) throw new Error('no gRPC client: connect did not start');
  return channel;
}
const state = mkdtempSync(join(tmpdir(), 'grpc-cli-'));

/** One `Say`; `waitForReady` waits out a reconnecting channel instead of failing at once. */
function say(message: string, options: { waitForReady?: boolean; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    lines().makeUnaryRequest(
      path('Say'),
      text.serialize,
      text.deserialize,
      message,
      new grpc.Metadata({ waitForReady: options.waitForReady ?? false }),
      { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
      (error, answer) => (error ? reject(error) : resolve(answer ?? '')),
    ),
  );
}

/** The pod that answered `Say` (`… from <pod>`). */
const podOf = (answer: string) => answer.split(' from ')[1] ?? '';

beforeAll(async () => {
  const testCluster = await startTestCluster({ scenario: 'empty' });
  cluster = testCluster;
  const create = (kind: string, namespace: string | undefined, object: object) =>
    testCluster.registry.create(resourceTypeOfKind(kind), namespace, object);
  create('Namespace', undefined, namespaceObject('rpc'));
  create(
    'Deployment',
    'rpc',
    deployment('lines', {
      replicas: 2,
      image: images.grpc,
      ports: [{ name: 'grpc', containerPort: 50051 }],
      readinessProbe: { tcpSocket: { port: 'grpc' } },
    }),
  );
  create(
    'Service',
    'rpc',
    service('lines', {
      selector: { app: 'lines' },
      ports: [{ name: 'grpc', port: 50051, targetPort: 'grpc' }],
    }),
  );
  await testCluster.waitForWorkloads();
  range = takeLocalizerRange();
  const env = { LOCALIZER_STATE_DIR: state, KUBECONFIG: testCluster.kubeconfigPath };
  const started = runInBackground(
    process.execPath,
    [builtCli, 'connect', '--no-names', '--ip-range', range.cidr],
    { env },
  );
  connect = started;
  await pollUntil(() => started.output().includes('Connected:'), 30_000, `connect:\n${started.output()}`);
  const listed = await run(process.execPath, [builtCli, 'list', '--json'], { env });
  const forward = (JSON.parse(listed.stdout) as TunnelStatus[]).find((t) => t.name === 'lines');
  if (!forward?.ip) throw new Error(`rpc/lines has no address in localizer list:\n${listed.stdout}`);
  channel = new grpc.Client(`${forward.ip}:50051`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  channel?.close();
  await connect?.stop();
  range?.release();
  await cluster?.stop();
});

describe('a gRPC client through localizer connect', () => {
  it('gets an answer to each of 200 calls made side by side on one channel', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => say(`call ${String(i)}`)));
    answers.forEach((answer, i) => expect(answer).toMatch(new RegExp(`^call ${String(i)} from lines-`)));
  });

  it('carries a server stream of 20,000 messages whole and in order', async () => {
    const stream = lines().makeServerStreamRequest(path('Count'), text.serialize, text.deserialize, '20000');
    const received: string[] = [];
    stream.on('data', (message: string) => received.push(message));
    await new Promise<void>((resolve, reject) => {
      stream.on('status', (status: grpc.StatusObject) =>
        status.code === grpc.status.OK ? resolve() : reject(new Error(status.details)),
      );
      stream.on('error', reject);
    });
    expect(received.length).toBe(20_000);
    expect(received.every((message, i) => message === String(i))).toBe(true);
  });

  it('cancels a stream half-way, and the same connection answers the next call', async () => {
    const before = await say('before');
    const stream = lines().makeServerStreamRequest(
      path('Count'),
      text.serialize,
      text.deserialize,
      '100000000',
    );
    let received = 0;
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined); // the cancel, reported as its status below
    stream.on('data', () => {
      if (++received === 500) stream.cancel();
    });
    expect((await ended).code).toBe(grpc.status.CANCELLED);
    // An HTTP/2 stream reset ends that call only: the connection, and its pod, carry on.
    expect(lines().getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    expect(podOf(await say('after'))).toBe(podOf(before));
  });

  it('echoes 2,000 messages on a bidirectional stream, each back before the next goes', async () => {
    const stream = lines().makeBidiStreamRequest(path('Echo'), text.serialize, text.deserialize);
    const echoed: string[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('data', (message: string) => {
        echoed.push(message);
        if (echoed.length < 2000) stream.write(`message ${String(echoed.length)}`);
        else stream.end();
      });
      stream.on('status', (status: grpc.StatusObject) =>
        status.code === grpc.status.OK ? resolve() : reject(new Error(status.details)),
      );
      stream.write('message 0');
    });
    expect(echoed).toEqual(Array.from({ length: 2000 }, (_, i) => `message ${String(i)}`));
  });

  it('reaches another pod once the pod under its open channel is deleted', async () => {
    const first = podOf(await say('before'));
    cluster?.faults.deletePod('rpc', first);
    // The channel sees its connection end, connects again through the same address, and the
    // forward takes the new connection to a pod that is still there.
    const answeredBy = () => say('after', { waitForReady: true, timeoutMs: 2000 }).then(podOf, () => '');
    await expect
      .poll(async () => [first, ''].includes(await answeredBy()), {
        timeout: 20_000,
        message: `a call should be answered by a pod other than ${first}`,
      })
      .toBe(false);
    const after = await answeredBy();
    expect(after).toMatch(/^lines-/);
    expect(after).not.toBe(first);
  });
});
