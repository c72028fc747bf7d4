/**
 * An informer that stays up. client-node's informer relists on 410 and reconnects after clean
 * closes, but any other error ends it; this wrapper restarts it with capped, jittered backoff,
 * resets the backoff once it connects, and does nothing once stopped.
 */
import { EventEmitter } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import { backoffDelay } from '../timing/backoff';
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
    // client-node fires 'connect' before it lists, and fills its cache only after: a new
    // informer's list() is empty at 'connect'. The first full list is therefore taken here, as it
    // arrives, and until then the last good list stands.
    let listed = false;
    const list = async (): Promise<k8s.KubernetesListObject<T>> => {
      const result = await this.options.list();
      // Called only once `current` has started, below.
      if (this.informer === current && !this.stopped) {
        listed = true;
        this.attempt = 0;
        this.lastKnown = result.items;
        this.setHealth({ state: 'connected' });
        this.emit('change');
      }
      return result;
    };
    const current = k8s.makeInformer(this.options.kubeConfig, this.options.path, list);
    this.informer = current;
    // client-node applies a list one object at a time, each with its own event: one change a
    // tick, read once the whole batch is in.
    let changePending = false;
    const changed = (): void => {
      if (this.informer !== current || !listed || changePending) return;
      changePending = true;
      queueMicrotask(() => {
        changePending = false;
        if (this.informer !== current) return;
        this.lastKnown = current.list();
        this.emit('change');
      });
    };
    current.on('add', changed);
    current.on('update', changed);
    current.on('delete', changed);
    // A reconnect from the last resourceVersion keeps the cache; only then is 'connect' news.
    current.on('connect', () => {
      if (this.informer !== current || !listed) return;
      this.attempt = 0;
      this.setHealth({ state: 'connected' });
    });
    current.on('error', (error: unknown) => {
      if (this.informer !== current || this.stopped) return;
      this.scheduleRetry(error);
    });
    current.start().catch((error: unknown) => {
      if (this.informer === current && !this.stopped) this.scheduleRetry(error);
    });
  }

  private scheduleRetry(error: unknown): void {
    const delay = backoffDelay(this.attempt++, {
      minMs: this.options.minBackoffMs ?? 500,
      maxMs: this.options.maxBackoffMs ?? 30_000,
      jitter: true,
      ...(this.options.random ? { random: this.options.random } : {}),
    });
    const informer = this.informer;
    this.informer = undefined;
    void informer?.stop();
    this.setHealth({ state: 'degraded', reason: describeError(error), retryInMs: delay });
    this.retryTimer = this.timers.setTimeout(() => this.run(), delay);
  }
}
