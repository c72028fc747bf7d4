/**
 * The dialer against API servers that speak different port-forward upgrades: SPDY in a
 * WebSocket first (kubectl 1.31+), then raw SPDY, then one WebSocket per connection; each
 * fallback said once, and the choice kept for that server.
 */
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { pollUntil } from '../../../../e2e/support/poll';
import { randomPayload } from '../../../../e2e/support/sockets';
import { loadKubeContext } from './kube-context';
import { createPodDialer, maxSessionsPerPod, streamsPerSession, type PodTarget } from './pod-dialer';

let cluster: TestCluster;
let echo: PodTarget;
let bulk: PodTarget;

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  const podOf = (deployment: string): PodTarget => {
    const pod = cluster.store
      .list(resourceTypeOfKind('Pod'), 'tools')
      .find((p) => p.metadata.name?.startsWith(`${deployment}-`));
    return { namespace: 'tools', pod: pod?.metadata.name ?? '', uid: pod?.metadata.uid };
  };
  echo = podOf('echo');
  bulk = podOf('bulk');
});
afterAll(async () => {
  await cluster.stop();
});

/** Sends 256 KiB through the echo pod and reads it back. */
async function roundTrip(dial: () => Promise<Duplex>): Promise<boolean> {
  const payload = randomPayload(256 * 1024);
  const stream = await dial();
  const chunks: Buffer[] = [];
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) resolve();
    });
    stream.on('error', reject);
    stream.write(payload);
  });
  stream.destroy();
  return Buffer.concat(chunks).equals(payload);
}

const MiB = 1024 * 1024;

/** Asks the bulk pod for `bytes` on `stream`. */
function ask(stream: Duplex, bytes: number): void {
  stream.write(`SEND ${String(bytes)}\n`);
}

/** Asks without reading what comes: a reader that fell behind. */
function askWithoutReading(stream: Duplex, bytes: number): void {
  stream.pause();
  ask(stream, bytes);
}

/** Reads everything `stream` brings until it ends, failing with `what` after `timeoutMs`. */
function readAll(stream: Duplex, timeoutMs: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const timer = setTimeout(
      () => reject(new Error(`${what}: ${String(received)} bytes in ${String(timeoutMs)} ms`)),
      timeoutMs,
    );
    stream.on('data', (chunk: Buffer) => (received += chunk.length));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve(received);
    });
    stream.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    stream.resume();
  });
}

describe('port-forward transports', () => {
  const cases = [
    { server: 'a current API server', unsupported: [], transport: 'spdy-websocket', said: [] },
    {
      server: 'a server without SPDY in a WebSocket (before 1.30)',
      unsupported: ['spdy-websocket'],
      transport: 'spdy',
      said: [
        /SPDY over WebSocket is not available \(unable to upgrade: none of the offered subprotocols .*\); using SPDY from now on/,
      ],
    },
    {
      server: 'a server with no SPDY at all',
      unsupported: ['spdy-websocket', 'spdy'],
      transport: 'websocket',
      said: [
        /SPDY over WebSocket is not available/,
        /SPDY is not available \(unable to upgrade: SPDY\/3\.1 is no longer served.*\); using one WebSocket per connection from now on/,
      ],
    },
  ] as const;
  for (const testCase of cases) {
    it(`uses ${testCase.transport} on ${testCase.server}, says why once, and keeps to it`, async () => {
      cluster.faults.setUnsupportedPortForwards(testCase.unsupported);
      const said: string[] = [];
      const dialer = createPodDialer(loadKubeContext({ kubeconfig: cluster.kubeconfigPath }).kubeConfig, {
        log: (message) => said.push(message),
      });
      try {
        for (let i = 0; i < 3; i++) expect(await roundTrip(() => dialer.dial(echo, 7007))).toBe(true);
        expect(dialer.transport).toBe(testCase.transport);
        const fallbacks = said.filter((line) => line.includes('not available'));
        expect(fallbacks).toHaveLength(testCase.said.length);
        testCase.said.forEach((pattern, index) => expect(fallbacks[index]).toMatch(pattern));
        expect(
          said.filter((line) =>
            line.endsWith(
              ` uses ${({ 'spdy-websocket': 'SPDY over WebSocket', spdy: 'SPDY', websocket: 'one WebSocket per connection' } as const)[testCase.transport]}`,
            ),
          ),
        ).toHaveLength(1);
      } finally {
        dialer.close();
        cluster.faults.setUnsupportedPortForwards([]);
      }
    });
  }

  it('opens another session beside a busy one, so many connections at once do not queue on one', async () => {
    const dialer = createPodDialer(loadKubeContext({ kubeconfig: cluster.kubeconfigPath }).kubeConfig);
    const before = cluster.requestCount();
    const streams: Duplex[] = [];
    /** A connection held open and in use, as a long download would be: it has had its answer. */
    const openInUse = async (): Promise<void> => {
      const stream = await dialer.dial(echo, 7007);
      streams.push(stream);
      await new Promise<void>((resolve, reject) => {
        stream.once('data', () => resolve());
        stream.once('error', reject);
        stream.write('x');
      });
    };
    try {
      // Past `streamsPerSession` on a session another opens beside it, for the connection that
      // found them all full, and never more than `maxSessionsPerPod`.
      for (let i = 0; i < streamsPerSession; i++) await openInUse();
      expect(cluster.requestCount() - before, 'one session while it has room').toBe(1);
      await openInUse();
      expect(cluster.requestCount() - before, 'port-forward sessions opened').toBe(2);
      for (let i = 0; i < streamsPerSession * maxSessionsPerPod; i++) await openInUse();
      expect(cluster.requestCount() - before, 'sessions stop at the limit per pod').toBe(maxSessionsPerPod);
      for (const stream of streams) stream.destroy();
      // Once quiet, one session takes the next connection again.
      expect(await roundTrip(() => dialer.dial(echo, 7007))).toBe(true);
      expect(cluster.requestCount() - before, 'no new session once quiet').toBe(maxSessionsPerPod);
    } finally {
      dialer.close();
    }
  });

  it('keeps other connections to a pod moving while one reader falls behind, and goes around one that stopped', async () => {
    // SPDY as the kubelet speaks it has no flow control per stream: a reader that stops would
    // stop the whole session, and with it every connection to the pod (kubectl's behaviour).
    const dialer = createPodDialer(loadKubeContext({ kubeconfig: cluster.kubeconfigPath }).kubeConfig);
    const before = cluster.requestCount();
    try {
      // A neighbour already connected, as a keep-alive connection or a second query would be.
      const neighbour = await dialer.dial(bulk, 9000);
      const slow = await dialer.dial(bulk, 9000);
      askWithoutReading(slow, 4 * MiB);
      await pollUntil(() => slow.readableLength >= 2 * MiB, 15_000, 'the slow reader to be 2 MiB behind');
      ask(neighbour, MiB);
      expect(await readAll(neighbour, 15_000, 'the neighbour of a slow reader')).toBe(MiB);
      expect(cluster.requestCount() - before, 'the neighbour shared the session').toBe(1);

      const stopped = await dialer.dial(bulk, 9000);
      askWithoutReading(stopped, 64 * MiB);
      // Its backlog grows to what the session allows (8 MiB), then the session pauses for it.
      let last = -1;
      await pollUntil(
        () => {
          const now = stopped.readableLength;
          const stable = now === last && now >= 8 * MiB;
          last = now;
          return stable;
        },
        15_000,
        'the stopped reader to be 8 MiB behind, and no more',
      );
      const newcomer = await dialer.dial(bulk, 9000);
      ask(newcomer, MiB);
      expect(await readAll(newcomer, 15_000, 'a new connection beside a stopped reader')).toBe(MiB);
      expect(cluster.requestCount() - before, 'the new connection went to another session').toBe(2);
      expect(stopped.readableLength, 'bytes held for the stopped reader').toBeLessThanOrEqual(10 * MiB);

      // Nothing was dropped: both readers get every byte once they read.
      expect(await readAll(slow, 15_000, 'the slow reader')).toBe(4 * MiB);
      expect(await readAll(stopped, 15_000, 'the stopped reader')).toBe(64 * MiB);
    } finally {
      dialer.close();
    }
  });

  it('names the permission when RBAC refuses the port-forward', async () => {
    const restricted = loadKubeContext({
      kubeconfig: cluster.kubeconfigPath,
      context: cluster.contexts.restricted,
    });
    const dialer = createPodDialer(restricted.kubeConfig);
    try {
      await expect(dialer.dial(echo, 7007)).rejects.toThrow(
        /create` on `pods\/portforward` in namespace tools/,
      );
    } finally {
      dialer.close();
    }
  });
});
