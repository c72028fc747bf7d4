/**
 * A port-forward session to one pod over SPDY/3.1, as kubectl opens it: one upgraded connection,
 * and for each forwarded connection a pair of streams (`error`, then `data`) sharing a
 * `requestid`. New connections cost one round trip on a warm connection instead of a TLS
 * handshake and an HTTP upgrade each.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { Socket as NetSocket, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { refusalMessage } from '../api-errors';
import {
  controlFrame,
  dataFrameHeader,
  flagFin,
  FrameReader,
  frameTypes,
  HeaderCodec,
  synStreamPayload,
} from './spdy-framing';
import { WebSocketCarrier } from './websocket-carrier';

/** kubectl 1.31+'s subprotocol: SPDY/3.1 frames carried in a WebSocket's binary messages. */
export const spdyOverWebSocketProtocol = 'SPDY/3.1+portforward.k8s.io';

/** The server would not upgrade to SPDY; the caller may fall back to WebSockets. */
export class SpdyUnavailableError extends Error {
  override name = 'SpdyUnavailableError';
}

const maxDataPayload = 0xffffff;
const readBytesPerTurn = 256 * 1024;
const streamBufferBytes = 1024 * 1024;
/**
 * SPDY as the kubelet speaks it has no flow control per stream (spdystream ignores
 * WINDOW_UPDATE), so the only way to slow one stream is to stop reading the session, which
 * stops every connection on it. While others share the session, a stream whose reader is behind
 * may hold this much more before that happens, and all such streams together this much.
 */
const behindStreamBytes = 8 * 1024 * 1024;
const behindSessionBytes = 16 * 1024 * 1024;

class SpdyStream extends Duplex {
  errorText = '';
  /** Streams of the pair the kubelet has not acknowledged yet, and the deadline for them. */
  unacknowledged = 0;
  acknowledgeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: SpdySession,
    readonly errorStreamId: number,
    readonly dataStreamId: number,
  ) {
    // Frames carry up to 64 KiB; a 16 KiB default would pause the whole session on every frame.
    super({
      allowHalfOpen: true,
      readableHighWaterMark: streamBufferBytes,
      writableHighWaterMark: streamBufferBytes,
    });
    // Every caller listens for errors; this one only keeps an error that comes before the caller
    // has the stream (a session shut down in the same turn) from crashing the process.
    this.on('error', () => undefined);
  }

  acknowledged(): void {
    if (--this.unacknowledged <= 0) clearTimeout(this.acknowledgeTimer);
  }

  override _read(): void {
    this.session.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.session.sendData(this.dataStreamId, chunk, false, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.session.sendData(this.dataStreamId, Buffer.alloc(0), true, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.acknowledgeTimer);
    this.session.forget(this, !this.readableEnded || !this.writableFinished);
    callback(error);
  }
}

export interface SessionTiming {
  /** How long a session with no streams stays open (30 s). */
  idleMs?: number;
  /** How long a new stream may wait for the kubelet's answer before the session is given up (10 s). */
  streamOpenTimeoutMs?: number;
}

/** RST_STREAM status CANCEL: we no longer want the stream. */
const cancel = 5;

export class SpdySession {
  private readonly reader = new FrameReader();
  private readonly codec = new HeaderCodec();
  private readonly streams = new Map<number, { stream: SpdyStream; role: 'data' | 'error' }>();
  private nextStreamId = 1;
  private nextRequestId = 0;
  private closed = false;
  /** Retired: no new streams; closes when its last stream ends. */
  private retired = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Reading is held until a stream that was full has room, or until the next loop turn. */
  private heldForStream = false;
  private heldForTurn = false;
  /** Streams holding more than their buffer, because their reader is behind. */
  private readonly behind = new Set<SpdyStream>();
  private bytesThisTurn = 0;
  private turnEnd: NodeJS.Immediate | undefined;
  onClose: (() => void) | undefined;

  private constructor(
    /** The upgraded connection, or a WebSocket carrying the frames. */
    private readonly socket: Duplex,
    private readonly timing: SessionTiming,
  ) {
    // A raw upgrade hands us the TCP socket; a WebSocket carrier has set noDelay on its own.
    if (socket instanceof NetSocket) socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('close', () => this.shutdown(new Error('the port-forward connection closed')));
    socket.on('error', (error) => this.shutdown(error));
    this.armIdle();
  }

  /** Upgrades a POST to `…/portforward` to SPDY/3.1. Rejects with `SpdyUnavailableError` on any other answer. */
  static open(url: string, options: RequestOptions, timing: SessionTiming = {}): Promise<SpdySession> {
    // applyToHTTPSOptions writes headers as an object; the array form never comes from it.
    // (Array.isArray does not narrow readonly arrays, hence the explicit type.)
    const headers: OutgoingHttpHeaders =
      options.headers && !Array.isArray(options.headers) ? (options.headers as OutgoingHttpHeaders) : {};
    return new Promise((resolve, reject) => {
      const request = httpsRequest(url, {
        ...options,
        method: 'POST',
        headers: {
          ...headers,
          Connection: 'Upgrade',
          Upgrade: 'SPDY/3.1',
          'X-Stream-Protocol-Version': 'portforward.k8s.io',
        },
      });
      request.on('upgrade', (response, socket: Socket, head: Buffer) => {
        if (response.headers['x-stream-protocol-version'] !== 'portforward.k8s.io') {
          socket.destroy();
          reject(new SpdyUnavailableError('the API server did not agree on the port-forward protocol'));
          return;
        }
        const session = new SpdySession(socket, timing);
        if (head.length > 0) session.onBytes(head);
        resolve(session);
      });
      request.on('response', (response) => {
        void refusalMessage(
          response,
          (code) => `the API server answered ${String(code)} instead of upgrading the port-forward`,
        ).then((message) => reject(new SpdyUnavailableError(message)));
      });
      request.on('error', reject);
      request.end();
    });
  }

  /**
   * Opens a session as kubectl 1.31+ does: a WebSocket upgrade of `GET …/portforward` whose
   * only subprotocol is `SPDY/3.1+portforward.k8s.io`, carrying SPDY frames. Rejects with
   * `SpdyUnavailableError` when the server answers anything else.
   */
  static openOverWebSocket(
    url: string,
    options: WebSocket.ClientOptions,
    timing: SessionTiming = {},
  ): Promise<SpdySession> {
    return new Promise((resolve, reject) => {
      // ws allows only token characters in subprotocols, and '/' and '+' are not: offer it by
      // header and check the server's answer ourselves, before ws looks for one it asked for.
      const ws = new WebSocket(url.replace(/^http/, 'ws'), {
        ...options,
        perMessageDeflate: false,
        headers: { ...options.headers, 'Sec-WebSocket-Protocol': spdyOverWebSocketProtocol },
      });
      ws.once('upgrade', (response) => {
        const chosen = response.headers['sec-websocket-protocol'];
        delete response.headers['sec-websocket-protocol'];
        if (chosen !== spdyOverWebSocketProtocol) {
          ws.terminate();
          reject(
            new SpdyUnavailableError(
              `the API server did not agree on ${spdyOverWebSocketProtocol} (it chose ${chosen ?? 'none'})`,
            ),
          );
        }
      });
      ws.once('open', () => resolve(new SpdySession(new WebSocketCarrier(ws), timing)));
      ws.once('unexpected-response', (_request, response) => {
        void refusalMessage(
          response,
          (code) => `the API server answered ${String(code)} instead of upgrading the port-forward`,
        ).then((message) => reject(new SpdyUnavailableError(message)));
      });
      ws.once('error', (error) => reject(error));
    });
  }

  /** Connections this session carries now (each is a pair of streams). */
  get load(): number {
    return Math.ceil(this.streams.size / 2);
  }

  /**
   * Paused because a reader fell too far behind: every connection on it waits for that reader,
   * so a new connection had better go to another session.
   */
  get stalled(): boolean {
    return this.heldForStream;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Opens the stream pair for one connection to `port`, and returns it at once. The kubelet
   * acknowledges a stream before it dials the pod, so the acknowledgement says nothing about the
   * pod, and waiting for it (kubectl waits once per stream) only holds the first byte back by one
   * round trip or two. A refusal arrives as the stream's error; a session that acknowledges
   * nothing within the timeout is given up, with its streams.
   */
  openStream(port: number): Duplex {
    if (this.closed || this.retired) throw new Error('the port-forward session is closed');
    clearTimeout(this.idleTimer);
    const requestId = String(this.nextRequestId++);
    const errorId = this.nextStreamId;
    const dataId = this.nextStreamId + 2;
    this.nextStreamId += 4;
    const stream = new SpdyStream(this, errorId, dataId);
    this.streams.set(errorId, { stream, role: 'error' });
    this.streams.set(dataId, { stream, role: 'data' });
    const timeoutMs = this.timing.streamOpenTimeoutMs ?? 10_000;
    stream.unacknowledged = 2;
    stream.acknowledgeTimer = setTimeout(() => {
      // A connection that died quietly (sleep, a network change) takes streams and answers
      // nothing: drop it, so the next connection opens a new one.
      this.shutdown(
        new Error(
          `the API server did not answer a new port-forward within ${String(timeoutMs / 1000)} s, so its connection was dropped; the next connection opens a new one`,
        ),
      );
    }, timeoutMs);
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
    this.heldForStream = false;
    if (!this.heldForTurn && !this.closed) this.socket.resume();
  }

  /** Drops a finished stream; one abandoned midway is reset, so the kubelet stops sending to it. */
  forget(stream: SpdyStream, abandoned: boolean): void {
    const reset = abandoned && !this.closed;
    // Both resets in one write: one WebSocket message, one TLS record.
    if (reset) this.socket.cork();
    this.behind.delete(stream);
    for (const id of [stream.errorStreamId, stream.dataStreamId]) {
      if (this.streams.get(id)?.stream !== stream) continue;
      this.streams.delete(id);
      if (reset) {
        const payload = Buffer.alloc(8);
        payload.writeUInt32BE(id & 0x7fffffff, 0);
        payload.writeUInt32BE(cancel, 4);
        this.socket.write(controlFrame(frameTypes.rstStream, 0, payload));
      }
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
    clearTimeout(this.idleTimer);
    if (this.streams.size > 0 || this.closed) return;
    if (this.retired) {
      this.close();
      return;
    }
    this.idleTimer = setTimeout(() => this.close(), this.timing.idleMs ?? 30_000);
    this.idleTimer.unref();
  }

  close(): void {
    this.shutdown(new Error('the port-forward session was closed'));
  }

  private shutdown(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    clearImmediate(this.turnEnd);
    this.socket.destroy();
    for (const { stream } of this.streams.values()) stream.destroy(error);
    this.streams.clear();
    this.behind.clear();
    this.onClose?.();
  }

  /**
   * Stops reading for the rest of this event-loop turn once `readBytesPerTurn` came in. libuv
   * accepts one connection per loop turn, and reads up to 2 MiB from each busy socket in one, so
   * bulk downloads made turns of tens of milliseconds, and a burst of new connections waited a
   * turn each to be accepted: the 32nd one of a burst, hundreds of milliseconds.
   */
  private spendTurn(bytes: number): void {
    this.bytesThisTurn += bytes;
    this.turnEnd ??= setImmediate(() => {
      this.turnEnd = undefined;
      this.bytesThisTurn = 0;
      if (!this.heldForTurn) return;
      this.heldForTurn = false;
      if (!this.heldForStream && !this.closed) this.socket.resume();
    });
    if (this.bytesThisTurn >= readBytesPerTurn && !this.heldForTurn) {
      this.heldForTurn = true;
      this.socket.pause();
    }
  }

  /**
   * `stream` is full: pause the session for it, unless others share the session and the readers
   * behind still fit their allowance, so one slow reader does not stop its neighbours at once.
   */
  private holdFor(stream: SpdyStream): void {
    // Streams leave the set when forgotten, or here once their reader has caught up.
    this.behind.add(stream);
    let held = 0;
    for (const other of this.behind) {
      if (other.readableLength < streamBufferBytes) this.behind.delete(other);
      else held += other.readableLength;
    }
    if (this.load > 1 && stream.readableLength < behindStreamBytes && held < behindSessionBytes) return;
    this.heldForStream = true;
    this.socket.pause();
  }

  private onBytes(chunk: Buffer): void {
    this.spendTurn(chunk.length);
    for (const frame of this.reader.push(chunk)) {
      if (!frame.control) {
        const entry = this.streams.get(frame.streamId);
        if (!entry) continue;
        if (entry.role === 'error') {
          if (frame.payload.length > 0) entry.stream.errorText += frame.payload.toString('utf8');
          if (frame.flags & flagFin && entry.stream.errorText)
            entry.stream.destroy(new Error(entry.stream.errorText.trim()));
          continue;
        }
        if (frame.payload.length > 0 && !entry.stream.push(frame.payload)) this.holdFor(entry.stream);
        if (frame.flags & flagFin) entry.stream.push(null);
        continue;
      }
      switch (frame.type) {
        case frameTypes.synReply: {
          const streamId = frame.payload.readUInt32BE(0) & 0x7fffffff;
          this.codec.decode(frame.payload.subarray(4));
          this.streams.get(streamId)?.stream.acknowledged();
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
        case frameTypes.ping:
          this.socket.write(controlFrame(frameTypes.ping, 0, frame.payload));
          break;
        case frameTypes.goAway:
          this.shutdown(new Error('the API server ended the port-forward session'));
          break;
      }
    }
  }
}
