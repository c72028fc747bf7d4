/**
 * One expose, from start to stop. Starting is a fixed list of steps (check, record, create the
 * SSH pod, open the tunnel, wait until the pod is ready, then take the Service: its selector
 * pointed at the pod, or its workloads scaled down), so callers never meet a gap; stopping is the
 * no-gap sequence in `expose-stop.ts`. The parts: `expose-preflight.ts` refuses what cannot
 * work, `ssh-pod-keeper.ts` keeps the pod and its Secret, `tunnel-keeper.ts` keeps the tunnel
 * up, `expose-modes.ts` takes the Service and gives it back. Every cluster change is recorded
 * before it is made, so a crash leaves nothing `cleanUpLeftovers` cannot find.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  describeRoute,
  takeoverLimits,
  type ExposeMode,
  type ExposeState,
  type TunnelStatus,
} from '../../../shared/tunnel-status';
import { describeError } from '../kube/api-errors';
import type { PodDialer } from '../kube/pod-dialer';
import { systemClock, type Clock } from '../timing/clock';
import { modeActions, type ModeActions } from './expose-modes';
import { removeRecord, writeRecord } from './expose-records';
import { planExpose, type ExposePlan, type SessionApis } from './expose-preflight';
import { stopExpose, type StoppableExpose } from './expose-stop';
import type { PortMapping } from './port-map';
import { HostKeyMismatchError, ReverseTunnel, type TunnelCounters } from './reverse-tunnel';
import { generateSshKeys, sshPort, type SshImage, type SshKeys } from './ssh-pod';
import { isPodReady } from '../kube/pod-state';
import { SshPodKeeper } from './ssh-pod-keeper';
import { TunnelKeeper } from './tunnel-keeper';
import { ExposeRefusedError } from './workload-scaler';

export type { SessionApis } from './expose-preflight';

export interface ExposeRequest {
  namespace: string;
  service: string;
  /** Empty: every TCP service port to the same port number on this machine. */
  mappings: PortMapping[];
  /** The SSH image for this expose, instead of the manager's. */
  image?: SshImage;
  /** How the Service is taken: `takeover` (the default), `scale-down`, or `personal`. */
  mode?: ExposeMode;
  /** A personal intercept's header (`x-dev`) and value (`alice`); implies `personal`. */
  header?: { name: string; value: string };
}

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
/** How long a stop lets calls already in the tunnel finish. */
const drainTimeoutMs = 10_000;
/** How often a takeover checks that nobody else changed the Service's selector. */
const driftCheckMs = 2_000;

/** What the expose has made so far: each start step adds to it, and undo reads it. */
interface Made {
  plan?: ExposePlan;
  keys?: SshKeys;
  pod?: SshPodKeeper;
  /** How the Service is taken and given back, once the plan is made. */
  mode?: ModeActions;
  /** The Service was taken (its selector switched, or its workloads scaled down). */
  routed: boolean;
}

interface StartStep {
  /** What the status says while the step runs; undefined keeps the last words. */
  says?: (session: ExposeSession) => string;
  run: (session: ExposeSession) => Promise<void>;
}

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
  private readonly made: Made = { routed: false };
  private driftTimer: unknown;
  private readonly keeper: TunnelKeeper;
  private readonly clock: Clock;
  private localProblem: string | null = null;
  private stopping = false;
  /** The SSH pod's address, where its tunnel listens: a personal intercept's route goes there. */
  private podAddress: string | null = null;
  private stopped: Promise<string | null> | undefined;

  constructor(private readonly options: ExposeSessionOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.lastChange = new Date(this.clock.now()).toISOString();
    this.keeper = new TunnelKeeper({
      clock: this.clock,
      reopen: () => this.reopen(),
      onState: (state, reason) => {
        if (state !== 'running') this.lastError = reason;
        // The router's health check sends a personal intercept's requests to the service's
        // own pods while its tunnel is down: say so, as it is what its callers see.
        const meanwhile =
          this.mode === 'personal' && state === 'reconnecting'
            ? `; meanwhile ${describeRoute(this.options.request.header ?? { name: '', value: '' })} requests go to the service's own pods`
            : '';
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

  private get target(): string {
    return `${this.options.request.namespace}/${this.options.request.service}`;
  }

  private get image(): SshImage {
    return this.options.request.image ?? this.options.image;
  }

  private get startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 120_000;
  }

  private set(state: ExposeState, reason: string): void {
    if (state !== this.state || reason !== this.reason)
      this.lastChange = new Date(this.clock.now()).toISOString();
    this.state = state;
    this.reason = reason;
    this.emit('status');
  }

  get mode(): ExposeMode {
    return this.options.request.header ? 'personal' : (this.options.request.mode ?? 'takeover');
  }

  /** The reason a running expose shows: what a takeover does not move, or the local problem. */
  private runningReason(): string {
    if (this.localProblem) return this.localProblem;
    const header = this.options.request.header;
    if (this.mode === 'personal' && header) {
      const others = this.made.mode?.sharedWith?.() ?? [];
      const shared = others.length > 0 ? `; its router is shared with ${others.join(', ')}` : '';
      return `personal: requests with ${describeRoute(header)} come here; every other request goes to the service's own pods${shared}`;
    }
    return this.mode === 'takeover' ? takeoverLimits : '';
  }

  /** The mode's actions, made once the plan is. */
  private modeActions(): ModeActions {
    if (this.made.mode) return this.made.mode;
    const { plan } = this.made;
    if (!plan) throw new Error('the plan comes before the mode');
    this.made.mode = modeActions(this.mode, {
      apis: this.options.apis,
      session: this.session,
      owner: this.options.owner,
      plan,
      clock: this.clock,
      pollMs,
      podName: () => this.made.pod?.podName ?? null,
      podAddress: () => this.podAddress,
      dialer: this.options.dialer,
      ...(this.options.request.header ? { header: this.options.request.header } : {}),
      drainTimeoutMs,
      startTimeoutMs: this.startTimeoutMs,
      isStopping: () => this.stopping,
    });
    return this.made.mode;
  }

  private static readonly startSteps: readonly StartStep[] = [
    {
      says: (s) => `reading service ${s.target}`,
      run: async (s) => {
        const { request, context } = s.options;
        // Every front end comes through here: a header and its mode are checked once.
        if (request.header && request.mode && request.mode !== 'personal')
          throw new ExposeRefusedError(
            `A header makes an expose personal (only requests carrying it come here); it does not go with mode ${request.mode}. Leave the mode out, or the header.`,
          );
        if (request.mode === 'personal' && !request.header)
          throw new ExposeRefusedError(
            'A personal intercept needs a header and your value, e.g. --header x-dev=alice: only requests carrying it come here.',
          );
        s.made.plan = await planExpose(
          s.options.apis,
          { context, namespace: request.namespace, service: request.service },
          request.mappings,
          s.mode,
          request.header,
        );
      },
    },
    {
      // Recorded before the first change, so a crash from here on leaves a trace.
      run: (s) => {
        const { request } = s.options;
        s.made.keys = generateSshKeys();
        const pod = s.podKeeper();
        writeRecord(s.options.stateDirectory, {
          session: s.session,
          pid: process.pid,
          context: s.options.context,
          ...(s.options.kubeconfigFiles ? { kubeconfigFiles: s.options.kubeconfigFiles } : {}),
          namespace: request.namespace,
          service: request.service,
          objectName: pod.objectName,
          mode: s.mode,
          // A takeover changes no workload; a scale-down names the ones it scales.
          workloads:
            s.mode !== 'scale-down'
              ? []
              : (s.made.plan?.workloads ?? []).map(({ kind, namespace, name }) => ({
                  kind,
                  namespace,
                  name,
                })),
        });
        return Promise.resolve();
      },
    },
    {
      says: (s) => `creating the SSH pod in ${s.options.request.namespace}`,
      run: async (s) => {
        await s.podKeeper().create();
        s.emit('status');
        s.keeper.adopt(await s.openTunnel());
      },
    },
    {
      says: (s) => `waiting for the SSH pod of ${s.target} to be ready (its tunnel up)`,
      run: async (s) => {
        await s.podKeeper().waitFor(isPodReady, 'become ready', s.startTimeoutMs);
      },
    },
    {
      says: (s) => s.modeActions().routing,
      run: async (s) => {
        // Marked first: a takeover that fails midway is given back (nothing happens if unchanged).
        s.made.routed = true;
        await s.modeActions().route();
      },
    },
  ];

  /** The SSH pod keeper, made once the plan and keys are. */
  private podKeeper(): SshPodKeeper {
    if (this.made.pod) return this.made.pod;
    const { plan, keys } = this.made;
    if (!plan || !keys) throw new Error('the plan and keys come before the pod');
    this.made.pod = new SshPodKeeper({
      apis: this.options.apis,
      clock: this.clock,
      session: this.session,
      owner: this.options.owner,
      image: this.image,
      keys,
      service: plan.service,
      ports: plan.ports,
      workloads: plan.workloads,
      pollMs,
      isStopping: () => this.stopping,
      mode: this.mode,
    });
    return this.made.pod;
  }

  /** Resolves once traffic flows to the laptop; rejects, with everything undone, when it cannot. */
  async start(): Promise<void> {
    try {
      for (const step of ExposeSession.startSteps) {
        const says = step.says?.(this);
        if (says) this.set('starting', says);
        await step.run(this);
      }
      this.set('running', this.runningReason());
      this.watchForDrift();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.lastError = message;
      await this.undo().catch((undoError: unknown) => {
        this.lastError = `${message}; undoing it also failed: ${describeError(undoError)}`;
      });
      this.set('failed', message);
      throw error;
    }
  }

  /**
   * A takeover's selector changed by someone else (a GitOps tool's self-heal, `kubectl apply`):
   * not fought over. The expose ends, leaving their change as it is, and says who changed what.
   */
  private watchForDrift(): void {
    if (this.mode === 'scale-down') return;
    this.driftTimer = this.clock.setTimeout(() => {
      void this.modeActions()
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

  /** Waits for the pod to run, then opens the tunnel; sshd may need a moment after the container starts. */
  private async openTunnel(): Promise<ReverseTunnel> {
    const pod = this.podKeeper();
    const { keys, plan } = this.made;
    if (!keys || !plan) throw new Error('keys are made before connecting');
    const running = await pod.waitFor(
      (p) => p.status?.phase === 'Running' && Boolean(p.status.podIP),
      'start running',
      this.startTimeoutMs,
    );
    this.podAddress = running.status?.podIP ?? null;
    // sshd may need a moment after the container starts, but not more than this.
    const answerMs = Math.min(30_000, this.startTimeoutMs);
    const deadline = this.clock.now() + answerMs;
    for (;;) {
      try {
        const stream = await this.options.dialer.dial(
          { namespace: this.options.request.namespace, pod: pod.podName ?? '', uid: running.metadata?.uid },
          sshPort,
        );
        return await ReverseTunnel.open({
          stream,
          user: this.image.user,
          clientPrivateKey: keys.clientPrivateKey,
          hostPublicKey: keys.hostPublicKey,
          listenAddress: running.status?.podIP ?? '',
          ports: plan.ports,
          counters: this.counters,
          ...(this.options.keepaliveIntervalMs
            ? { keepaliveIntervalMs: this.options.keepaliveIntervalMs }
            : {}),
        });
      } catch (error) {
        if (error instanceof HostKeyMismatchError || this.stopping) throw error;
        if (this.clock.now() > deadline) {
          const said = error instanceof Error ? error.message : String(error);
          throw await pod.problem(
            `sshd in the SSH pod ${pod.podName ?? ''} did not answer on port ${String(sshPort)} within ${String(answerMs / 1000)} s (${said}).`,
          );
        }
        await this.clock.sleep(pollMs);
      }
    }
  }

  /** The tunnel keeper's way back: the same pod if it still runs, else a new one. */
  private async reopen(): Promise<ReverseTunnel> {
    const pod = this.podKeeper();
    const current = await pod.read();
    if (!current || current.metadata?.deletionTimestamp) {
      this.set('reconnecting', 'the SSH pod is gone; creating a new one');
      await pod.recreate();
      this.emit('status');
      const tunnel = await this.openTunnel();
      // A new pod has a new address: the routes that led to the old one follow it.
      if (this.made.routed) await this.modeActions().moved?.();
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
    // A reconnect under way may be creating a pod: let it finish, so undo sees (and deletes) it.
    await this.keeper.stop();
    // Stopped before its plan was made, nothing was taken yet.
    if (this.state !== 'failed')
      this.set(
        'stopping',
        this.made.plan ? this.modeActions().givingBack : `stopping the expose of ${this.target}`,
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
    const mode = this.made.plan ? this.modeActions() : undefined;
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
    if (!this.made.keys || !this.made.pod) {
      if (this.made.keys) removeRecord(this.options.stateDirectory, this.session);
      return null;
    }
    const notice = await stopExpose(this.stoppable(this.made.pod), {
      clock: this.clock,
      restoreTimeoutMs: this.options.restoreTimeoutMs ?? 60_000,
      drainTimeoutMs,
      pollMs,
    });
    if (!notice) return null;
    return notice.includes('still not ready')
      ? `${notice}. The SSH pod was removed anyway, so the service may have no ready pod for now; see why with \`kubectl -n ${this.options.request.namespace} get pods\`.`
      : `${notice}.`;
  }

  snapshot(): TunnelStatus {
    const { namespace, service } = this.options.request;
    return {
      context: this.options.context,
      kind: 'expose',
      namespace,
      name: service,
      status: this.state,
      // Who shares a personal intercept's router changes while it runs: said as it is now.
      reason: this.state === 'running' && this.mode === 'personal' ? this.runningReason() : this.reason,
      endpoint: this.made.pod?.podName ?? null,
      ip: null,
      hostnames: [],
      // For an expose, the target is the port on this machine.
      ports: (this.made.plan?.ports ?? []).map((p) => ({
        port: p.servicePort,
        targetPort: p.localPort,
        protocol: 'TCP',
      })),
      counters: { ...this.counters, reconnects: this.keeper.reconnects },
      lastError: this.lastError,
      lastChange: this.lastChange,
      transport: this.options.dialer.transport ?? null,
      mode: this.mode,
      ...(this.options.request.header
        ? {
            route: {
              header: this.options.request.header.name,
              value: this.options.request.header.value,
              sharedWith: this.made.mode?.sharedWith?.() ?? [],
            },
          }
        : {}),
    };
  }
}
