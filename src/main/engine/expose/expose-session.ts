/**
 * One expose, from start to stop. Starting is the fixed list of steps in `expose-start.ts`
 * (check, record, create the SSH pod, open the tunnel, wait until the pod is ready, then take the
 * Service), so callers never meet a gap; stopping is the no-gap sequence in `expose-stop.ts`;
 * `expose-parts.ts` holds what was made so far, `expose-status.ts` words it; `expose-preflight.ts`
 * refuses what cannot work, `ssh-pod-keeper.ts` keeps the pod and Secret, `tunnel-keeper.ts` the
 * tunnel, `expose-modes.ts` takes the Service and gives it back. Every cluster change is recorded
 * before it is made, so a crash leaves nothing `cleanUpLeftovers` cannot find.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ExposeMode, ExposeState, TunnelStatus } from '../../../shared/tunnel-status';
import { describeError } from '../kube/api-errors';
import type { PodDialer } from '../kube/pod-dialer';
import { systemClock, type Clock } from '../timing/clock';
import { ExposeParts } from './expose-parts';
import { removeRecord } from './expose-records';
import { exposeModeOf, type ExposeRequest } from './expose-request';
import { startSteps, type StartingExpose } from './expose-start';
import { exposeStatus, meanwhileNote, runningReason, stopNotice } from './expose-status';
import type { SessionApis } from './expose-preflight';
import { stopExpose, type StoppableExpose } from './expose-stop';
import type { ReverseTunnel, TunnelCounters } from './reverse-tunnel';
import type { SshImage } from './ssh-image';
import type { SshPodKeeper } from './ssh-pod-keeper';
import { TunnelKeeper } from './tunnel-keeper';
import { openTunnelToPod } from './tunnel-opener';

export type { SessionApis } from './expose-preflight';

export interface ExposeSessionOptions {
  context: string;
  /** Where the context was read from, for the record a later run cleans up from. */
  kubeconfigFiles?: string[];
  apis: SessionApis;
  dialer: PodDialer;
  stateDirectory: string;
  /** `user@host`, written on everything the expose changes. */
  owner: string;
  image: SshImage;
  request: ExposeRequest;
  /** How long the pod may take to run and become routable before the expose fails. */
  startTimeoutMs?: number;
  /** How long a stop keeps the tunnel serving while the restored workloads' pods become ready. */
  restoreTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  clock?: Clock;
}

const pollMs = 250;
const defaultStartTimeoutMs = 120_000;
/** How long a stop lets calls already in the tunnel finish. */
const drainTimeoutMs = 10_000;
/** How often a takeover checks that nobody else changed the Service's selector. */
const driftCheckMs = 2_000;

export class ExposeSession extends EventEmitter<{
  status: [];
  /** Ended by itself: someone else took the Service back (a takeover's selector changed). */
  ended: [reason: string];
}> {
  readonly session = randomBytes(8).toString('hex');
  private state: ExposeState = 'starting';
  private reason = '';
  private lastError: string | null = null;
  private lastChange: string;
  private readonly counters: TunnelCounters = {
    connections: 0,
    activeConnections: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  private readonly made: ExposeParts;
  private driftTimer: unknown;
  private readonly keeper: TunnelKeeper;
  private readonly clock: Clock;
  private localProblem: string | null = null;
  private stopping = false;
  /** The SSH pod's address, where its tunnel listens: a personal intercept's route goes there. */
  private podAddress: string | null = null;
  private startup: Promise<void> | undefined;
  private stopped: Promise<string | null> | undefined;

  constructor(private readonly options: ExposeSessionOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.made = new ExposeParts({
      apis: options.apis,
      session: this.session,
      owner: options.owner,
      image: options.request.image ?? options.image,
      mode: exposeModeOf(options.request),
      header: options.request.header,
      dialer: options.dialer,
      clock: this.clock,
      pollMs,
      drainTimeoutMs,
      startTimeoutMs: options.startTimeoutMs ?? defaultStartTimeoutMs,
      isStopping: () => this.stopping,
      podAddress: () => this.podAddress,
    });
    this.lastChange = new Date(this.clock.now()).toISOString();
    this.keeper = new TunnelKeeper({
      clock: this.clock,
      reopen: () => this.reopen(),
      onState: (state, reason) => {
        if (state !== 'running') this.lastError = reason;
        const meanwhile =
          state === 'reconnecting' ? meanwhileNote(this.mode, this.options.request.header) : '';
        this.set(state, state === 'running' ? this.runningReason() : `${reason}${meanwhile}`);
      },
      onLocalProblem: (problem) => {
        this.localProblem = problem;
        if (problem) this.lastError = problem;
        if (this.state === 'running') this.set('running', this.runningReason());
      },
    });
  }

  get id(): string {
    return `${this.options.context}/${this.options.request.namespace}/${this.options.request.service}`;
  }

  private get startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? defaultStartTimeoutMs;
  }

  private set(state: ExposeState, reason: string): void {
    if (state !== this.state || reason !== this.reason)
      this.lastChange = new Date(this.clock.now()).toISOString();
    this.state = state;
    this.reason = reason;
    this.emit('status');
  }

  get mode(): ExposeMode {
    return exposeModeOf(this.options.request);
  }

  /** The reason a running expose shows: what a takeover does not move, or the local problem. */
  private runningReason(): string {
    return runningReason({
      mode: this.mode,
      header: this.options.request.header,
      localProblem: this.localProblem,
      sharedWith: this.made.sharedWith(),
    });
  }

  /** Resolves once traffic flows to the laptop; rejects, with everything undone, when it cannot. */
  start = (): Promise<void> => (this.startup ??= this.startOnce());

  private async startOnce(): Promise<void> {
    try {
      const starting = this.starting();
      for (const step of startSteps) {
        // A stop mid-start waits for the step under way, then undoes once (see stopOnce).
        if (this.stopping) throw new Error('the expose was stopped before it was running');
        const says = step.says?.(starting);
        if (says) this.set('starting', says);
        await step.run(starting);
      }
      this.set('running', this.runningReason());
      this.watchForDrift();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = message;
      if (this.stopping) throw error;
      await this.undo().catch((undoError: unknown) => {
        this.lastError = `${message}; undoing it also failed: ${describeError(undoError)}`;
      });
      this.set('failed', message);
      throw error;
    }
  }

  /** This expose as its start steps see it. */
  private starting(): StartingExpose {
    const { options } = this;
    return {
      session: this.session,
      context: options.context,
      kubeconfigFiles: options.kubeconfigFiles,
      apis: options.apis,
      stateDirectory: options.stateDirectory,
      request: options.request,
      mode: this.mode,
      made: this.made,
      startTimeoutMs: this.startTimeoutMs,
      podCreated: () => this.emit('status'),
      openTunnel: async () => this.keeper.adopt(await this.openTunnel()),
    };
  }

  /**
   * A takeover's selector changed by someone else (a GitOps tool's self-heal, `kubectl apply`):
   * not fought over. The expose ends, leaving their change as it is, and says who changed what.
   */
  private watchForDrift(): void {
    if (this.mode === 'scale-down') return;
    this.driftTimer = this.clock.setTimeout(() => {
      void this.made
        .mode()
        .drift()
        .then(async (drift) => {
          if (this.stopping) return;
          if (!drift) {
            this.watchForDrift();
            return;
          }
          const reason = `Ended: ${drift}. Localizer left that change as it is.`;
          this.lastError = reason;
          await this.stop().catch(() => undefined);
          this.set('failed', reason);
          this.emit('ended', reason);
        });
    }, driftCheckMs);
  }

  /** Waits for the pod to run, then opens the tunnel, and notes the pod's address. */
  private async openTunnel(): Promise<ReverseTunnel> {
    const { keys, plan } = this.made;
    if (!keys || !plan) throw new Error('keys are made before connecting');
    return openTunnelToPod({
      pod: this.made.pod(),
      namespace: this.options.request.namespace,
      dialer: this.options.dialer,
      clock: this.clock,
      image: this.made.image,
      keys,
      ports: plan.ports,
      counters: this.counters,
      keepaliveIntervalMs: this.options.keepaliveIntervalMs,
      startTimeoutMs: this.startTimeoutMs,
      pollMs,
      isStopping: () => this.stopping,
      onRunning: (podAddress) => (this.podAddress = podAddress),
    });
  }

  /** The tunnel keeper's way back: the same pod if it still runs, else a new one. */
  private async reopen(): Promise<ReverseTunnel> {
    const pod = this.made.pod();
    const current = await pod.read();
    if (!current || current.metadata?.deletionTimestamp) {
      this.set('reconnecting', 'the SSH pod is gone; creating a new one');
      await pod.recreate();
      this.emit('status');
      const tunnel = await this.openTunnel();
      // A new pod has a new address: the routes that led to the old one follow it.
      if (this.made.routed) await this.made.mode().moved?.();
      return tunnel;
    }
    return this.openTunnel();
  }

  /**
   * Restores the replicas, waits (bounded) for their pods to be ready, then deletes the pod and
   * Secret. Idempotent. Resolves with a notice when the workloads were not ready in time.
   */
  stop(): Promise<string | null> {
    // One stop, whoever asks (a drift, `--stop`, Quit): each waits for it to finish.
    this.stopped ??= this.stopOnce();
    return this.stopped;
  }

  private async stopOnce(): Promise<string | null> {
    this.stopping = true;
    this.clock.clearTimeout(this.driftTimer);
    // Never undo beside a start step in flight: a takeover landing after the give-back wins.
    await this.startup?.catch(() => undefined);
    // A reconnect under way may be creating a pod: let it finish, so undo sees (and deletes) it.
    await this.keeper.stop();
    // Stopped before its plan was made, nothing was taken yet.
    if (this.state !== 'failed')
      this.set(
        'stopping',
        this.made.plan
          ? this.made.mode().givingBack
          : `stopping the expose of ${this.options.request.namespace}/${this.options.request.service}`,
      );
    try {
      return await this.undo();
    } finally {
      this.keeper.close();
    }
  }

  /** The cluster side of this expose, as the stop sequence acts on it. */
  private stoppable(pod: SshPodKeeper): StoppableExpose {
    const { stateDirectory } = this.options;
    const mode = this.made.plan ? this.made.mode() : undefined;
    return {
      restoreWorkloads: () => mode?.giveBack() ?? Promise.resolve(null),
      restoredReadiness: () => mode?.readiness() ?? Promise.resolve(undefined),
      tunnelOpen: () => this.keeper.tunnel !== undefined,
      scaledDown: () => this.made.routed,
      leaveService: () => pod.leaveService(),
      stillRouted: () => pod.stillRouted(),
      activeConnections: () => this.counters.activeConnections,
      closeTunnel: () => {
        this.made.routed = false;
        this.keeper.close();
      },
      deleteObjects: () => pod.deleteAll(),
      forget: () => removeRecord(stateDirectory, this.session),
      say: (message) => this.set('stopping', message),
    };
  }

  /**
   * Puts the workloads back first and keeps the tunnel serving until their pods are ready, so a
   * caller never meets a service with nowhere to go.
   */
  private async undo(): Promise<string | null> {
    // Before the keys there is no record and nothing in the cluster.
    const pod = this.made.existingPod;
    if (!this.made.keys || !pod) {
      if (this.made.keys) removeRecord(this.options.stateDirectory, this.session);
      return null;
    }
    const notice = await stopExpose(this.stoppable(pod), {
      clock: this.clock,
      restoreTimeoutMs: this.options.restoreTimeoutMs ?? 60_000,
      drainTimeoutMs,
      pollMs,
    });
    return notice ? stopNotice(notice, this.options.request.namespace) : null;
  }

  snapshot(): TunnelStatus {
    return exposeStatus({
      context: this.options.context,
      request: this.options.request,
      mode: this.mode,
      state: this.state,
      // Who shares a personal intercept's router changes while it runs: said as it is now.
      reason: this.state === 'running' && this.mode === 'personal' ? this.runningReason() : this.reason,
      podName: this.made.existingPod?.podName ?? null,
      ports: this.made.plan?.ports ?? [],
      counters: this.counters,
      reconnects: this.keeper.reconnects,
      lastError: this.lastError,
      lastChange: this.lastChange,
      transport: this.options.dialer.transport ?? null,
      sharedWith: this.made.sharedWith(),
    });
  }
}
