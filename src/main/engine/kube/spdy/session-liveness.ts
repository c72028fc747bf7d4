/**
 * Whether a port-forward session still carries anything. A connection that died quietly (a
 * laptop's sleep, a load balancer that dropped it, a proxy that stopped forwarding) stays
 * "open" and answers nothing; users see forwards that say running and carry no data. So:
 *
 * - after `pingAfterSilenceMs` of silence the session is sent a PING, and one that is not
 *   answered within `pingTimeoutMs` is given up (stalled);
 * - a new stream that hears nothing at all from the session for `silentOpenMs` makes the
 *   session suspect: new connections go elsewhere, and the streams it never acknowledged are
 *   moved, until anything heard (a PING's reply included) clears it;
 * - a stream the kubelet does not acknowledge within `streamOpenTimeoutMs` gives the session up.
 *
 * Time spent paused because one of our own readers is behind does not count: nothing is read
 * then, answers included.
 */
import type { Clock } from '../../timing/clock';

export interface LivenessTiming {
  /** Silence after which the session is sent a PING (5 s). */
  pingAfterSilenceMs?: number;
  /** How long a PING may go unanswered before the session is given up (10 s). */
  pingTimeoutMs?: number;
  /** How long a new stream may hear nothing at all before the session is suspect (2 s). */
  silentOpenMs?: number;
  /** How long a new stream may wait for the kubelet's acknowledgement before the session is given up (10 s). */
  streamOpenTimeoutMs?: number;
}

export interface LivenessEvents {
  /** Send a PING with this id (odd: the kubelet's spdystream answers only client ids). */
  sendPing(id: number): void;
  /** Nothing came since a stream opened: stop placing streams here, move unacknowledged ones. */
  suspect(): void;
  /** Given up: `why` says for how long it answered nothing, and what. */
  stalled(why: string): void;
  /** When the oldest stream still waiting for its acknowledgement was opened, if any. */
  oldestUnacknowledged(): number | undefined;
}

export const defaultLiveness = {
  pingAfterSilenceMs: 5_000,
  pingTimeoutMs: 10_000,
  silentOpenMs: 2_000,
  streamOpenTimeoutMs: 10_000,
} as const satisfies Required<LivenessTiming>;

function seconds(ms: number): string {
  return `${String(Math.round(ms / 100) / 10)} s`;
}

export class SessionLiveness {
  private readonly timing: Required<LivenessTiming>;
  private heardAt: number;
  /** A stream opened since anything was last heard: when. */
  private silentSince: number | undefined;
  /** When the PING now unanswered went out. Anything heard answers it: its reply, or any byte. */
  private pingSentAt: number | undefined;
  /** Client PINGs carry odd ids (the kubelet's spdystream answers only those). */
  private nextPingId = 1;
  private timer: unknown;
  private timerAt = Infinity;
  private paused = false;
  private closed = false;
  /** Nothing came since a stream opened; cleared by anything heard. */
  suspect = false;

  constructor(
    private readonly clock: Clock,
    timing: LivenessTiming,
    private readonly events: LivenessEvents,
  ) {
    this.timing = { ...defaultLiveness, ...timing };
    this.heardAt = clock.now();
    this.arm(this.heardAt + this.timing.pingAfterSilenceMs);
  }

  /** How long nothing has come in. */
  silentForMs(): number {
    return this.clock.now() - this.heardAt;
  }

  /**
   * Bytes came in (a PING's reply among them), or ours went out (the other end reads): the
   * session is alive. Called per chunk, so it only notes it; the timer, when it fires, looks again.
   */
  heard(): void {
    this.heardAt = this.clock.now();
    this.silentSince = undefined;
    this.pingSentAt = undefined;
    this.suspect = false;
  }

  streamOpened(): void {
    const now = this.clock.now();
    this.silentSince ??= now;
    // The stream's own acknowledgement deadline is later (checked with the others then).
    this.arm(now + Math.min(this.timing.silentOpenMs, this.timing.streamOpenTimeoutMs));
  }

  /** Our own reader is behind: nothing is read, so silence says nothing about the other end. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.disarm();
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    const now = this.clock.now();
    this.heardAt = now;
    if (this.silentSince !== undefined) this.silentSince = now;
    if (this.pingSentAt !== undefined) this.pingSentAt = now;
    this.check();
  }

  close(): void {
    this.closed = true;
    this.disarm();
  }

  private sendPing(now: number): void {
    const id = this.nextPingId;
    this.nextPingId = (this.nextPingId + 2) % 0x7fffffff;
    this.pingSentAt = now;
    this.events.sendPing(id);
  }

  private check(): void {
    if (this.paused || this.closed) return;
    const now = this.clock.now();
    const t = this.timing;
    if (this.pingSentAt !== undefined && now - this.pingSentAt >= t.pingTimeoutMs) {
      this.events.stalled(
        `it answered nothing for ${seconds(now - this.heardAt)} and no reply to a PING within ${seconds(t.pingTimeoutMs)}`,
      );
      return;
    }
    const oldest = this.events.oldestUnacknowledged();
    if (oldest !== undefined && now - oldest >= t.streamOpenTimeoutMs) {
      this.events.stalled(
        `the API server did not answer a new port-forward within ${seconds(t.streamOpenTimeoutMs)}`,
      );
      return;
    }
    if (this.silentSince !== undefined && !this.suspect && now - this.silentSince >= t.silentOpenMs) {
      this.suspect = true;
      if (this.pingSentAt === undefined) this.sendPing(now);
      this.events.suspect();
    }
    if (this.pingSentAt === undefined && now - this.heardAt >= t.pingAfterSilenceMs) this.sendPing(now);
    const deadlines = [
      this.pingSentAt !== undefined ? this.pingSentAt + t.pingTimeoutMs : this.heardAt + t.pingAfterSilenceMs,
      oldest !== undefined ? oldest + t.streamOpenTimeoutMs : Infinity,
      this.silentSince !== undefined && !this.suspect ? this.silentSince + t.silentOpenMs : Infinity,
    ];
    this.arm(Math.min(...deadlines));
  }

  /** Sets the one timer for `at`, unless it is already set for earlier. */
  private arm(at: number): void {
    if (this.paused || this.closed) return;
    if (this.timer !== undefined && this.timerAt <= at) return;
    this.disarm();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.check();
      },
      Math.max(0, at - this.clock.now()),
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
