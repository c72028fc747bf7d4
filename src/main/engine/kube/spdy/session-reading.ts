/**
 * When a port-forward session reads its connection, and when it stops. SPDY as the kubelet
 * speaks it has no flow control per stream (spdystream ignores WINDOW_UPDATE), so the only way to
 * slow one stream is to stop reading the session, which stops every connection on it: a stream
 * whose reader is behind may hold some more first while others share the session, and a hold
 * that lasts is reported as a slow reader. Reading also stops for the rest of an event-loop turn
 * once enough came in, so bulk downloads do not starve new connections.
 */
import type { Duplex } from 'node:stream';
import type { Clock } from '../../timing/clock';
import { streamBufferBytes, type SpdyStream } from './spdy-stream';

const readBytesPerTurn = 256 * 1024;
/**
 * While others share the session, a stream whose reader is behind may hold this much more before
 * the session stops for it, and all such streams together this much.
 */
const behindStreamBytes = 8 * 1024 * 1024;
const behindSessionBytes = 16 * 1024 * 1024;
/** How long one reader must hold the whole session up before it is reported as a slow reader. */
const slowReaderMs = 1_000;

export interface SessionReadingHooks {
  /** Connections the session carries now. */
  load: () => number;
  isClosed: () => boolean;
  /** Reading stopped for a stream's reader. */
  onHold: () => void;
  /** Reading goes on after a stream's reader made room. */
  onRelease: () => void;
  /** A hold lasted `slowReaderMs` (true), or such a hold ended (false). */
  onHeld: (held: boolean) => void;
}

export class SessionReading {
  /** Reading is held until a stream that was full has room, or until the next loop turn. */
  private heldForStream = false;
  private heldForTurn = false;
  /** Streams holding more than their buffer, because their reader is behind. */
  private readonly behind = new Set<SpdyStream>();
  private bytesThisTurn = 0;
  private turnEnd: NodeJS.Immediate | undefined;
  /** Reported as held up by a slow reader (see `onHeld`). */
  private heldUp = false;
  private heldTimer: unknown;

  constructor(
    private readonly socket: Duplex,
    private readonly clock: Clock,
    private readonly hooks: SessionReadingHooks,
  ) {}

  /** Paused because a reader fell too far behind. */
  get pausedForReader(): boolean {
    return this.heldForStream;
  }

  /** Held up by one slow reader for a while. */
  get heldUpBySlowReader(): boolean {
    return this.heldUp;
  }

  /**
   * Stops reading for the rest of this event-loop turn once `readBytesPerTurn` came in. libuv
   * accepts one connection per loop turn, and reads up to 2 MiB from each busy socket in one, so
   * bulk downloads made turns of tens of milliseconds, and a burst of new connections waited a
   * turn each to be accepted: the 32nd one of a burst, hundreds of milliseconds.
   */
  spendTurn(bytes: number): void {
    this.bytesThisTurn += bytes;
    this.turnEnd ??= setImmediate(() => {
      this.turnEnd = undefined;
      this.bytesThisTurn = 0;
      if (!this.heldForTurn) return;
      this.heldForTurn = false;
      if (!this.heldForStream && !this.hooks.isClosed()) this.socket.resume();
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
  holdFor(stream: SpdyStream): void {
    // Streams leave the set when forgotten, or here once their reader has caught up.
    this.behind.add(stream);
    let held = 0;
    for (const other of this.behind) {
      if (other.readableLength < streamBufferBytes) this.behind.delete(other);
      else held += other.readableLength;
    }
    if (this.hooks.load() > 1 && stream.readableLength < behindStreamBytes && held < behindSessionBytes)
      return;
    if (!this.heldForStream) {
      this.heldForStream = true;
      this.hooks.onHold();
      this.heldTimer = this.clock.setTimeout(() => {
        if (!this.heldForStream || this.hooks.isClosed()) return;
        this.heldUp = true;
        this.hooks.onHeld(true);
      }, slowReaderMs);
    }
    this.socket.pause();
  }

  /** A stream has room again: read on, unless this turn's budget is spent. */
  resume(): void {
    if (this.heldForStream) {
      this.heldForStream = false;
      this.hooks.onRelease();
      this.clock.clearTimeout(this.heldTimer);
      if (this.heldUp) {
        this.heldUp = false;
        this.hooks.onHeld(false);
      }
    }
    if (!this.heldForTurn && !this.hooks.isClosed()) this.socket.resume();
  }

  forget(stream: SpdyStream): void {
    this.behind.delete(stream);
  }

  close(): void {
    this.clock.clearTimeout(this.heldTimer);
    clearImmediate(this.turnEnd);
    this.behind.clear();
  }
}
