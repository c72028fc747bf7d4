/**
 * The SPDY port-forward session against the test cluster's own kubelet half, over an in-memory
 * pair: no API server, no cluster, milliseconds per case. The "pods" are TCP servers on
 * loopback, dialled as the kubelet dials a pod; time is a ManualClock where a case is about time.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { socketChannel } from '../../../../../e2e/cluster/portforward/byte-channel';
import {
  copyGraceMs,
  serveSpdyPortForward,
  type SpdySessionControl,
} from '../../../../../e2e/cluster/portforward/spdy-portforward';
import { duplexPair } from '../../control/duplex-pair';
import { pollUntil } from '../../../../../e2e/support/poll';
import { ManualClock } from '../../timing/manual-clock';
import { controlFrame, frameTypes } from './spdy-framing';
import { SpdySession, type SessionEnd, type SessionTiming } from './spdy-session';
import { PodStreamError, StreamNotTakenError } from './spdy-stream';

const servers: Server[] = [];
const podSockets = new Set<Socket>();
const sessions: SpdySession[] = [];
afterEach(async () => {
  for (const session of sessions.splice(0)) session.close();
  for (const socket of podSockets) socket.destroy();
  podSockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A "pod" listening on loopback (closing its side on EOF, as most servers do); returns its port. */
async function startPod(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    podSockets.add(socket);
    socket.on('close', () => podSockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Answers `+PONG` to each line and never closes, as Redis does with a client that half-closed. */
const redisLike = (socket: Socket): void => {
  socket.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) socket.write(`+${line.trim()}ED\r\n`);
  });
};

interface Harness {
  session: SpdySession;
  kubelet: SpdySessionControl;
  ends: SessionEnd[];
  /** Writes a raw frame from the kubelet's side (PINGs, GOAWAY). */
  fromKubelet: (frame: Buffer) => void;
  /** Frames the kubelet's side received, raw. */
  toKubelet: Buffer[];
}

function open(timing: SessionTiming = {}): Harness {
  const [ours, theirs] = duplexPair();
  const toKubelet: Buffer[] = [];
  theirs.on('data', (chunk: Buffer) => toKubelet.push(chunk));
  const kubelet = serveSpdyPortForward(
    socketChannel(theirs),
    (port) =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      }),
    (port, error, during) => `error forwarding port ${String(port)} (${during}): ${error.message}`,
  );
  const session = SpdySession.over(ours, timing);
  sessions.push(session);
  const ends: SessionEnd[] = [];
  session.onClose = (end) => ends.push(end);
  return { session, kubelet, ends, fromKubelet: (frame) => theirs.write(frame), toKubelet };
}

function collect(stream: Duplex): { text: () => string; ended: Promise<string> } {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const ended = new Promise<string>((resolve, reject) => {
    stream.on('end', () => resolve('end'));
    stream.on('error', reject);
  });
  // A case that does not wait for the end must not see its stream's error as unhandled.
  ended.catch(() => undefined);
  return { text: () => text, ended };
}

describe('a SPDY port-forward session, over an in-memory pair to the kubelet', () => {
  it('delivers the answer to a caller that half-closed, and ends once the kubelet closes', async () => {
    const { session } = open();
    const stream = session.openStream(await startPod(redisLike));
    const reading = collect(stream);
    stream.end('PING\n'); // as `printf 'PING\r\n' | nc -N` does
    const startedAt = Date.now();
    await expect(reading.ended).resolves.toBe('end');
    expect(reading.text()).toBe('+PINGED\r\n');
    // The kubelet gives the pod at most its grace once the client's direction ended.
    expect(Date.now() - startedAt).toBeLessThan(copyGraceMs + 1_000);
  });

  it('turns a pod that resets the connection into an error, never a clean end', async () => {
    const { session } = open();
    // Answers the first line, and resets the connection on the second.
    const port = await startPod((socket) => {
      socket.once('data', () => {
        socket.write('partial answer');
        socket.once('data', () => socket.resetAndDestroy());
      });
    });
    const stream = session.openStream(port);
    const reading = collect(stream);
    stream.write('GET\n');
    await pollUntil(() => reading.text() === 'partial answer', 5_000, 'the first answer');
    stream.write('MORE\n');
    const error = await reading.ended.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PodStreamError);
    expect((error as Error).message).toMatch(/error forwarding port \d+ \(copy\): .*ECONNRESET|reset/);
  });

  it('resets a stream the caller abandons, so the pod sees the connection go', async () => {
    const { session } = open();
    let podSawClose = false;
    const port = await startPod((socket) => {
      socket.on('close', () => (podSawClose = true));
      socket.write('hello');
    });
    const stream = session.openStream(port);
    await new Promise((resolve) => stream.once('data', resolve));
    stream.destroy();
    await pollUntil(() => podSawClose, 5_000, 'the pod to see the abandoned connection close');
    expect(session.load).toBe(0);
  });

  it('moves a new connection off a session that answers nothing, and gives the session up when its PING goes unanswered', async () => {
    const clock = new ManualClock(Date.now());
    const { session, kubelet, ends } = open({ clock });
    const port = await startPod(redisLike);
    const before = session.openStream(port);
    const answered = collect(before);
    before.write('A\n');
    await pollUntil(() => answered.text() === '+AED\r\n', 5_000, 'the first answer');

    kubelet.stall(); // the connection stays open and carries nothing from now on
    const after = session.openStream(port);
    const moved = collect(after).ended.then(
      () => undefined,
      (e: unknown) => e,
    );
    await clock.advance(2_000);
    expect(await moved).toBeInstanceOf(StreamNotTakenError);
    expect(session.suspect, 'a quiet session takes no new connection').toBe(true);
    expect(session.isOpen).toBe(true);

    await clock.advance(10_000);
    expect(session.isOpen).toBe(false);
    expect(ends.map((end) => end.stalled)).toEqual([true]);
    expect(ends[0]?.message).toMatch(
      /stopped answering \(.*no reply to a PING within 10 s\); it was replaced/,
    );
  });

  it('never moves a connection whose bytes went out (the pod may have them), and holds them after a quiet moment', async () => {
    const clock = new ManualClock(Date.now());
    const { session, kubelet } = open({ clock });
    const port = await startPod(redisLike);
    const warm = session.openStream(port);
    const answered = collect(warm);
    warm.write('A\n');
    await pollUntil(() => answered.text() === '+AED\r\n', 5_000, 'the first answer');

    kubelet.stall();
    // Right after traffic: the first bytes go out behind the stream's opening, as ever.
    const sent = session.openStream(port);
    const sentOutcome = collect(sent).ended.then(
      () => undefined,
      (e: unknown) => e,
    );
    sent.write('B\n');
    await clock.advance(300);
    // After a quiet moment: held until the kubelet acknowledges the stream.
    const held = session.openStream(port);
    const heldOutcome = collect(held).ended.then(
      () => undefined,
      (e: unknown) => e,
    );
    held.write('C\n');
    await clock.advance(2_000);
    expect(await heldOutcome, 'nothing of it went out: opened again elsewhere').toBeInstanceOf(
      StreamNotTakenError,
    );
    expect(sent.destroyed, 'its bytes went out: it waits for the verdict').toBe(false);
    await clock.advance(10_000);
    const failed = await sentOutcome;
    expect(failed).toBeInstanceOf(Error);
    expect(failed).not.toBeInstanceOf(StreamNotTakenError);
  });

  it('pings a silent session, and keeps it while the PINGs are answered', async () => {
    const clock = new ManualClock(Date.now());
    const { session, ends } = open({ clock });
    const stream = session.openStream(await startPod(redisLike));
    collect(stream);
    for (let i = 0; i < 5; i++) await clock.advance(5_000);
    expect(session.isOpen).toBe(true);
    expect(ends).toEqual([]);
  });

  it('does not count the time it is paused for its own slow reader', async () => {
    const clock = new ManualClock(Date.now());
    const { session, ends } = open({ clock });
    const port = await startPod((socket) =>
      socket.once('data', () => socket.write(Buffer.alloc(4 * 1024 * 1024))),
    );
    const slow = session.openStream(port);
    slow.pause(); // a reader that stopped: the session stops reading for it
    slow.write('SEND\n');
    await pollUntil(() => session.pausedForReader, 5_000, 'the session to pause for its slow reader');
    await clock.advance(60_000);
    expect(session.isOpen, 'silence while we are not reading says nothing about the kubelet').toBe(true);
    expect(ends).toEqual([]);
    let received = 0;
    slow.on('data', (chunk: Buffer) => (received += chunk.length));
    slow.resume();
    await pollUntil(() => received === 4 * 1024 * 1024, 5_000, 'the slow reader to get everything');
  });

  it("echoes the server's PINGs (even ids) and takes its own back (odd ids) without echoing them", async () => {
    const { fromKubelet, toKubelet } = open();
    const ping = (id: number): Buffer => {
      const payload = Buffer.alloc(4);
      payload.writeUInt32BE(id);
      return controlFrame(frameTypes.ping, 0, payload);
    };
    fromKubelet(ping(2));
    fromKubelet(ping(7));
    await pollUntil(() => toKubelet.length > 0, 5_000, 'an answer to the PING');
    await new Promise((resolve) => setImmediate(resolve));
    expect(Buffer.concat(toKubelet)).toEqual(ping(2));
  });

  it('ends every stream when the API server sends GOAWAY', async () => {
    const { session, fromKubelet, ends } = open();
    const stream = session.openStream(await startPod(redisLike));
    const reading = collect(stream);
    fromKubelet(controlFrame(frameTypes.goAway, 0, Buffer.alloc(8)));
    await expect(reading.ended).rejects.toThrow(/ended the port-forward session/);
    expect(ends).toEqual([{ stalled: false, message: 'the API server ended the port-forward session' }]);
  });

  it('closes once idle, on its clock', async () => {
    const clock = new ManualClock(Date.now());
    const { session } = open({ clock, idleMs: 30_000 });
    const stream = session.openStream(await startPod(redisLike));
    const reading = collect(stream);
    stream.end('X\n');
    await reading.ended;
    await pollUntil(() => session.load === 0, 5_000, 'the finished stream to be forgotten');
    await clock.advance(29_000);
    expect(session.isOpen).toBe(true);
    await clock.advance(1_000);
    expect(session.isOpen).toBe(false);
  });
});
