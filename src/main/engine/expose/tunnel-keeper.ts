/**
 * Keeps an expose's reverse tunnel up: when it closes (the pod went, the network dropped, a
 * keepalive went unanswered) it is opened again with capped, jittered backoff, reset by each
 * success, until the keeper is stopped.
 */
import { backoffDelay } from '../timing/backoff';
import type { Clock } from '../timing/clock';
import { HostKeyMismatchError, type ReverseTunnel } from './reverse-tunnel';

export interface TunnelKeeperOptions {
  clock: Clock;
  /** Opens the tunnel again, recreating the SSH pod first if it is gone. */
  reopen: () => Promise<ReverseTunnel>;
  /** The tunnel's state as the expose shows it. */
  onState: (state: 'running' | 'reconnecting' | 'failed', reason: string) => void;
  /** The laptop's side: a local port that refuses, or null once it answers again. */
  onLocalProblem: (problem: string | null) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

export class TunnelKeeper {
  private current: ReverseTunnel | undefined;
  private attempt = 0;
  private timer: unknown;
  private reopening: Promise<void> | undefined;
  private stopped = false;
  /** Times the tunnel was opened again. */
  reconnects = 0;

  constructor(private readonly options: TunnelKeeperOptions) {}

  get tunnel(): ReverseTunnel | undefined {
    return this.current;
  }

  /** Takes over a tunnel that was just opened. */
  adopt(tunnel: ReverseTunnel): void {
    this.current = tunnel;
    this.attempt = 0;
    tunnel.on('localProblem', (problem) => this.options.onLocalProblem(problem));
    tunnel.on('closed', (error) => {
      if (this.current !== tunnel || this.stopped) return;
      this.current = undefined;
      const why = error ? `the tunnel closed: ${error.message}` : 'the tunnel to the SSH pod closed';
      this.options.onState('reconnecting', `${why}; reconnecting`);
      this.schedule();
    });
  }

  /** When the next attempt would run, in ms from now (for tests). */
  delayFor(attempt: number): number {
    return backoffDelay(attempt, {
      minMs: this.options.minBackoffMs ?? 500,
      maxMs: this.options.maxBackoffMs ?? 15_000,
      jitter: true,
      ...(this.options.random ? { random: this.options.random } : {}),
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = this.delayFor(this.attempt++);
    this.timer = this.options.clock.setTimeout(() => {
      this.reopening = this.reopen();
    }, wait);
  }

  /** A call, not a field read: `stop()` may run while an attempt awaits. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private async reopen(): Promise<void> {
    if (this.stopped) return;
    this.reconnects++;
    try {
      const tunnel = await this.options.reopen();
      if (this.isStopped()) {
        tunnel.close();
        return;
      }
      this.adopt(tunnel);
      this.options.onState('running', '');
    } catch (error) {
      if (this.isStopped()) return;
      const message = error instanceof Error ? error.message : String(error);
      this.options.onState(error instanceof HostKeyMismatchError ? 'failed' : 'reconnecting', message);
      this.schedule();
    }
  }

  /** No more attempts; waits for one under way (it may be creating a pod the stop must see). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.options.clock.clearTimeout(this.timer);
    await this.reopening;
  }

  close(): void {
    this.current?.close();
    this.current = undefined;
  }
}
