/**
 * An informer that stays up. client-node's informer relists on 410 and reconnects after clean
 * closes, but any other error ends it; this wrapper restarts it with capped, jittered backoff,
 * resets the backoff once it connects, and does nothing once stopped.
 */
import { EventEmitter } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import { describeError } from './api-errors';

export type InformerHealth =
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'degraded'; reason: string; retryInMs: number }
  | { state: 'stopped' };

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ResilientInformerOptions<T extends k8s.KubernetesObject> {
  kubeConfig: k8s.KubeConfig;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  /** Backoff bounds in ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  timers?: Timers;
  random?: () => number;
}

export class ResilientInformer<T extends k8s.KubernetesObject> extends EventEmitter<{
  change: [];
  health: [InformerHealth];
}> {
  private informer: (k8s.Informer<T> & k8s.ObjectCache<T>) | undefined;
  private attempt = 0;
  private retryTimer: unknown;
  private stopped = true;
  health: InformerHealth = { state: 'connecting' };
  private readonly timers: Timers;

  constructor(private readonly options: ResilientInformerOptions<T>) {
    super();
    this.timers = options.timers ?? {
      setTimeout: (cb, ms) => setTimeout(cb, ms),
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    };
  }

  /**
   * Objects as last seen by a connected informer. While reconnecting this keeps the last good
   * list, so a restart never looks like every object vanished.
   */
  list(): readonly T[] {
    return this.lastKnown;
  }

  private lastKnown: readonly T[] = [];

  start(): void {
    this.stopped = false;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearTimeout(this.retryTimer);
    const informer = this.informer;
    this.informer = undefined;
    this.setHealth({ state: 'stopped' });
    await informer?.stop();
  }

  /** Drops the current watch and starts over now (after sleep, or a network change). */
  restartNow(): void {
    if (this.stopped) return;
    this.timers.clearTimeout(this.retryTimer);
    const informer = this.informer;
    this.informer = undefined;
    void informer?.stop();
    this.run();
  }

  private setHealth(health: InformerHealth): void {
    this.health = health;
    this.emit('health', health);
  }

  private run(): void {
    if (this.stopped) return;
    const informer = k8s.makeInformer(this.options.kubeConfig, this.options.path, this.options.list);
    this.informer = informer;
    let connected = false;
    const changed = (): void => {
      if (this.informer !== informer || !connected) return;
      this.lastKnown = informer.list();
      this.emit('change');
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('connect', () => {
      if (this.informer !== informer) return;
      connected = true;
      this.attempt = 0;
      this.lastKnown = informer.list();
      this.setHealth({ state: 'connected' });
      this.emit('change');
    });
    informer.on('error', (error: unknown) => {
      if (this.informer !== informer || this.stopped) return;
      this.scheduleRetry(error);
    });
    informer.start().catch((error: unknown) => {
      if (this.informer === informer && !this.stopped) this.scheduleRetry(error);
    });
  }

  private scheduleRetry(error: unknown): void {
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const ceiling = Math.min(max, min * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (ceiling / 2) * (this.options.random ?? Math.random)());
    this.attempt++;
    const informer = this.informer;
    this.informer = undefined;
    void informer?.stop();
    this.setHealth({ state: 'degraded', reason: describeError(error), retryInMs: delay });
    this.retryTimer = this.timers.setTimeout(() => this.run(), delay);
  }
}
