/**
 * A port-forward session to one pod over SPDY/3.1, as kubectl opens it: one upgraded connection
 * (any duplex: a TLS socket, a WebSocket carrier, an in-memory pair in tests), and for each
 * forwarded connection a pair of streams (`error`, then `data`) sharing a `requestid`. New
 * connections cost one round trip on a warm connection instead of a TLS handshake and an HTTP
 * upgrade each. `spdy-upgrade.ts` opens the connection; `session-liveness.ts` notices when it
 * stops carrying anything; `session-reading.ts` decides when it reads.
 */
import { Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock } from '../../timing/clock';
import {
  cancelStreamFrame,
  controlFrame,
  pingFrame,
  dataFrameHeader,
  flagFin,
  FrameReader,
  frameTypes,
  HeaderCodec,
  synStreamPayload,
} from './spdy-framing';
import { SessionLiveness, type LivenessTiming } from './session-liveness';
import { SessionReading } from './session-reading';
import { SpdyStream, StreamNotTakenError, type StreamCarrier } from './spdy-stream';

const maxDataPayload = 0xffffff;
/**
 * A stream opened on a session that heard nothing for this long holds the caller's bytes until
 * the kubelet acknowledges it (one round trip more, after a quiet moment only): if the session
 * turns out dead, nothing of the caller's went out, and the connection can be opened again on a
 * fresh session without any risk of running a request twice.
 */
const quietGateMs = 250;

export interface SessionTiming extends LivenessTiming {
  /** How long a session with no streams stays open (30 s). */
  idleMs?: number;
  clock?: Clock;
}

/** Why a session ended, for whoever counts and shows it. */
export interface SessionEnd {
  /** It went silent and was given up (not closed by us or by the other end). */
  stalled: boolean;
  message: string;
}

export class SpdySession implements StreamCarrier {
  private readonly reader = new FrameReader();
  private readonly codec = new HeaderCodec();
  private readonly clock: Clock;
  private readonly liveness: SessionLiveness;
  private readonly streams = new Map<number, { stream: SpdyStream; role: 'data' | 'error' }>();
  /** Streams the kubelet has not acknowledged yet, oldest first. */
  private readonly waiting = new Set<SpdyStream>();
  private nextStreamId = 1;
  private nextRequestId = 0;
  private closed = false;
  /** Retired: no new streams; closes when its last stream ends. */
  private retired = false;
  private idleTimer: unknown;
  private readonly reading: SessionReading;
  onClose: ((end: SessionEnd) => void) | undefined;
  /**
   * A reader has held the whole session up for `slowReaderMs` (true), or the session moves again
   * after such a hold (false). Brief holds are ordinary flow control and are not reported.
   */
  onHeld: ((held: boolean) => void) | undefined;
  private constructor(
    /** The upgraded connection, or a WebSocket carrying the frames. */
    private readonly socket: Duplex,
    private readonly timing: SessionTiming,
  ) {
    this.clock = timing.clock ?? systemClock;
    this.reading = new SessionReading(socket, this.clock, {
      load: () => this.load,
      isClosed: () => this.closed,
      onHold: () => this.liveness.pause(),
      onRelease: () => {
        this.liveness.resume();
        // Their wait for the kubelet's answer restarts: nothing was read while we held.
        const now = this.clock.now();
        for (const stream of this.waiting) stream.waitingSince = now;
      },
      onHeld: (held) => this.onHeld?.(held),
    });
    // A raw upgrade hands us the TCP socket; a WebSocket carrier has set noDelay on its own.
    if (socket instanceof NetSocket) socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    // Our bytes leaving after a backlog: the other end reads, so the session is alive.
    socket.on('drain', () => this.liveness.heard());
    socket.on('close', () => this.shutdown(new Error('the port-forward connection closed'), 'lost'));
    socket.on('error', (error) => this.shutdown(error, 'lost'));
    this.liveness = new SessionLiveness(this.clock, timing, {
      sendPing: (id) => this.socket.write(pingFrame(id)),
      suspect: () => this.moveUnacknowledged(),
      stalled: (why) =>
        this.shutdown(
          new Error(`the port-forward session stopped answering (${why}); it was replaced`),
          'stalled',
        ),
      oldestUnacknowledged: () => this.waiting.values().next().value?.waitingSince,
    });
    this.armIdle();
  }

  /** A session over an upgraded connection whose first bytes (`head`) may already be read. */
  static over(socket: Duplex, timing: SessionTiming = {}, head?: Buffer): SpdySession {
    const session = new SpdySession(socket, timing);
    if (head && head.length > 0) session.onBytes(head);
    return session;
  }

  /** Connections this session carries now (each is a pair of streams). */
  get load(): number {
    return Math.ceil(this.streams.size / 2);
  }

  /**
   * Paused because a reader fell too far behind: every connection on it waits for that reader,
   * so a new connection had better go to another session.
   */
  get pausedForReader(): boolean {
    return this.reading.pausedForReader;
  }

  /** Held up by one slow reader for a while: what `list` says, with how many others wait. */
  get heldUpBySlowReader(): boolean {
    return this.reading.heldUpBySlowReader;
  }

  /** Heard nothing since a stream opened: new connections go elsewhere until it answers a PING. */
  get suspect(): boolean {
    return this.liveness.suspect;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Opens the stream pair for one connection to `port`, and returns it at once. The kubelet
   * acknowledges a stream before it dials the pod, so the acknowledgement says nothing about the
   * pod, and waiting for it (kubectl waits once per stream) only holds the first byte back by one
   * round trip or two. A refusal arrives as the stream's error.
   */
  openStream(port: number): Duplex {
    if (this.closed || this.retired) throw new Error('the port-forward session is closed');
    this.clock.clearTimeout(this.idleTimer);
    const requestId = String(this.nextRequestId++);
    const errorId = this.nextStreamId;
    const dataId = this.nextStreamId + 2;
    this.nextStreamId += 4;
    const stream = new SpdyStream(
      this,
      errorId,
      dataId,
      this.clock.now(),
      this.liveness.silentForMs() >= quietGateMs,
    );
    this.streams.set(errorId, { stream, role: 'error' });
    this.streams.set(dataId, { stream, role: 'data' });
    this.waiting.add(stream);
    this.liveness.streamOpened();
    const headers = (type: string) =>
      this.codec.encode({ streamtype: type, port: String(port), requestid: requestId });
    // One write for both: one WebSocket message, one TLS record. The error stream carries
    // nothing from us, so it is half-closed at once.
    this.socket.cork();
    this.socket.write(
      controlFrame(frameTypes.synStream, flagFin, synStreamPayload(errorId, headers('error'))),
    );
    this.socket.write(controlFrame(frameTypes.synStream, 0, synStreamPayload(dataId, headers('data'))));
    this.socket.uncork();
    return stream;
  }

  sendData(streamId: number, bytes: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    if (this.closed) {
      callback(new Error('the port-forward session is closed'));
      return;
    }
    let ok = true;
    // Header and payload go out as two writes in one flush, so the payload is never copied.
    this.socket.cork();
    for (let offset = 0; offset < bytes.length || (fin && offset === 0); offset += maxDataPayload) {
      const end = Math.min(bytes.length, offset + maxDataPayload);
      this.socket.write(dataFrameHeader(streamId, fin && end === bytes.length ? flagFin : 0, end - offset));
      if (end > offset) ok = this.socket.write(bytes.subarray(offset, end));
      if (bytes.length === 0) break;
    }
    this.socket.uncork();
    if (ok) callback();
    else this.socket.once('drain', () => callback());
  }

  /** A stream has room again: read on, unless this turn's budget is spent. */
  resume(): void {
    this.reading.resume();
  }

  /** Drops a finished stream; one abandoned midway is reset, so the kubelet stops sending to it. */
  forget(stream: SpdyStream, abandoned: boolean): void {
    const reset = abandoned && !this.closed;
    // Both resets in one write: one WebSocket message, one TLS record.
    if (reset) this.socket.cork();
    this.reading.forget(stream);
    this.waiting.delete(stream);
    for (const id of [stream.errorStreamId, stream.dataStreamId]) {
      if (this.streams.get(id)?.stream !== stream) continue;
      this.streams.delete(id);
      if (reset) this.socket.write(cancelStreamFrame(id));
    }
    if (reset) this.socket.uncork();
    // The session may be paused for this stream's full buffer; with it gone, nothing would ever
    // resume it, and every other connection to the pod would stall. A stream still full pauses
    // it again on its next frame.
    this.resume();
    this.armIdle();
  }

  /**
   * Takes no new streams and closes once the ones it carries end: its pod left the ready
   * endpoints or was replaced, but calls still in flight to it may finish.
   */
  retire(): void {
    this.retired = true;
    this.armIdle();
  }

  private armIdle(): void {
    this.clock.clearTimeout(this.idleTimer);
    if (this.streams.size > 0 || this.closed) return;
    if (this.retired) {
      // Retired after going quiet (a connection was moved off it): it was given up for its
      // silence, which is worth counting and saying.
      if (this.liveness.suspect)
        this.shutdown(
          new Error(
            `the port-forward session stopped answering (nothing for ${String(Math.round(this.liveness.silentForMs() / 100) / 10)} s after a new connection); it was replaced`,
          ),
          'stalled',
        );
      else this.close();
      return;
    }
    this.idleTimer = this.clock.setTimeout(() => this.close(), this.timing.idleMs ?? 30_000);
    // An idle session must not keep a process alive (the system clock's timers can be unref'd).
    const handle = this.idleTimer as { unref?: () => void };
    if (typeof handle.unref === 'function') handle.unref();
  }

  close(): void {
    this.shutdown(new Error('the port-forward session was closed'), 'ours');
  }

  /**
   * Streams the kubelet never acknowledged, on a session gone quiet, that sent nothing of the
   * caller's: they fail as not taken, so their connections are opened again on another session.
   * One that did send may have reached the pod; it waits for the session's verdict.
   */
  private moveUnacknowledged(): void {
    for (const stream of [...this.waiting])
      if (!stream.dataSent)
        stream.destroy(
          new StreamNotTakenError(
            'the port-forward session answered nothing for this connection, so it was moved to a new session',
          ),
        );
  }

  /**
   * Ends the session: closed by us, lost (the connection closed or failed under it), or stalled
   * (given up for silence). On the last two, a stream never acknowledged most likely never reached
   * the pod, and fails as not taken so its connection may be opened on another session.
   */
  private shutdown(error: Error, how: 'ours' | 'lost' | 'stalled'): void {
    if (this.closed) return;
    this.closed = true;
    this.liveness.close();
    this.clock.clearTimeout(this.idleTimer);
    this.reading.close();
    this.socket.destroy();
    for (const { stream } of this.streams.values())
      stream.destroy(
        stream.acknowledged || stream.dataSent || how === 'ours'
          ? error
          : new StreamNotTakenError(error.message),
      );
    this.streams.clear();
    this.waiting.clear();
    this.onClose?.({ stalled: how === 'stalled', message: error.message });
  }

  after(ms: number, work: () => void): () => void {
    const timer = this.clock.setTimeout(work, ms);
    return () => this.clock.clearTimeout(timer);
  }

  private onBytes(chunk: Buffer): void {
    this.liveness.heard();
    this.reading.spendTurn(chunk.length);
    for (const frame of this.reader.push(chunk)) {
      if (!frame.control) {
        const entry = this.streams.get(frame.streamId);
        if (!entry) continue;
        const { stream } = entry;
        if (entry.role === 'error') {
          if (frame.payload.length > 0) stream.errorData(frame.payload);
          if (frame.flags & flagFin) stream.errorFin();
          continue;
        }
        if (frame.payload.length > 0 && !stream.deliver(frame.payload)) this.reading.holdFor(stream);
        if (frame.flags & flagFin) stream.dataFin();
        continue;
      }
      switch (frame.type) {
        case frameTypes.synReply: {
          const streamId = frame.payload.readUInt32BE(0) & 0x7fffffff;
          this.codec.decode(frame.payload.subarray(4));
          const stream = this.streams.get(streamId)?.stream;
          if (stream) {
            stream.acknowledge();
            if (stream.acknowledged) this.waiting.delete(stream);
          }
          break;
        }
        case frameTypes.headers:
          this.codec.decode(frame.payload.subarray(4));
          break;
        case frameTypes.rstStream: {
          const entry = this.streams.get(frame.payload.readUInt32BE(0) & 0x7fffffff);
          entry?.stream.destroy(new Error('the kubelet reset the stream'));
          break;
        }
        case frameTypes.ping: {
          // Odd ids are our own PINGs coming back (heard already, like any byte); even ones are
          // the server's, to be echoed.
          if (frame.payload.readUInt32BE(0) % 2 === 0)
            this.socket.write(controlFrame(frameTypes.ping, 0, frame.payload));
          break;
        }
        case frameTypes.goAway:
          this.shutdown(new Error('the API server ended the port-forward session'), 'lost');
          break;
      }
    }
  }
}
