/**
 * Moving a connection to the next pod when the first cannot take it, with real sockets: each
 * "pod" is a TCP server on loopback, reached by a dialer that connects to it directly.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { PodDialer } from '../kube/pod-dialer';
import { carryToPod, type PodConnectionAttempt } from './pod-connection';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A "pod" that answers each request line with its name, once the caller has sent it. */
async function startPod(name: string): Promise<number> {
  const server = createServer((socket) => {
    socket.once('data', (request: Buffer) => socket.end(`${name} got ${request.toString()}`));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: as a pod that just died. */
async function deadPort(): Promise<number> {
  const port = await startPod('gone');
  await new Promise((resolve) => servers.pop()?.close(resolve));
  return port;
}

/** Dials the "pods" over TCP; a refused connection arrives as a stream error, as the kubelet's does. */
function tcpDialer(): PodDialer {
  return {
    dial: (_target, port) => {
      const socket = connect({ host: '127.0.0.1', port });
      return Promise.resolve(socket);
    },
    health: () => ({ stalls: 0, waitingOnSlowReader: 0 }),
    retire: () => undefined,
    close: () => undefined,
    transport: undefined,
  };
}

/** A local caller connected to a listener whose connection is carried to the attempts. */
async function call(attempts: PodConnectionAttempt[], dialer: PodDialer, request: string) {
  const events: string[] = [];
  const listener = createServer({ pauseOnConnect: true }, (socket: Socket) =>
    carryToPod({
      socket,
      dialer,
      attempts,
      onCarried: ({ target }) => events.push(`carried by ${target.pod}`),
      onAttemptFailed: ({ target }, error, retrying) =>
        events.push(
          `${target.pod} failed (${error.message.split(' ')[0] ?? ''}), ${retrying ? 'retrying' : 'giving up'}`,
        ),
      onBytes: () => undefined,
    }),
  );
  servers.push(listener);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const answer = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: (listener.address() as AddressInfo).port }, () =>
      socket.write(request),
    );
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
  return { answer, events };
}

const target = (pod: string, port: number): PodConnectionAttempt => ({
  target: { namespace: 'data', pod, uid: `uid-${pod}` },
  port,
});

describe('carrying a connection to a pod', () => {
  it('replays what the caller sent to the next pod when the first cannot be reached', async () => {
    const { answer, events } = await call(
      [target('kv-0', await deadPort()), target('kv-1', await startPod('kv-1'))],
      tcpDialer(),
      'GET /',
    );
    expect(answer).toBe('kv-1 got GET /');
    expect(events).toEqual(['carried by kv-0', 'kv-0 failed (connect), retrying', 'carried by kv-1']);
  });

  it('fails the caller only when no pod can take the connection', async () => {
    const { answer, events } = await call(
      [target('kv-0', await deadPort()), target('kv-1', await deadPort())],
      tcpDialer(),
      'GET /',
    );
    expect(answer).toBe('');
    expect(events.at(-1)).toBe('kv-1 failed (connect), giving up');
  });

  it('never replays a connection the pod already answered', async () => {
    const port = await startPod('kv-0');
    const { answer, events } = await call(
      [target('kv-0', port), target('kv-1', await startPod('kv-1'))],
      tcpDialer(),
      'PING',
    );
    expect(answer).toBe('kv-0 got PING');
    expect(events).toEqual(['carried by kv-0']);
  });
});
