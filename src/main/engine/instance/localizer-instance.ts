/**
 * The one Localizer of a user (of a state directory): the tray app, the browser harness,
 * `localizer daemon` and a foreground `connect` or `expose` each run exactly this, and nothing
 * else wires engine parts together. It owns the connected contexts and their engines, the shared
 * names (helper, sync, address book), the exposes, the cleanup after earlier runs, the one status
 * computation, and the control socket every `localizer` command talks to.
 */
import { TunnelHistory, type TunnelEvent } from './tunnel-history';
import { EventEmitter } from 'node:events';
import type { CleanupNotice, ConnectionStatus, ExposeEndedNotice } from '../../../shared/app-state';
import type { KubeSource } from '../../../shared/control-protocol';
import type {
  EnvironmentAnswer,
  InstanceIdentity,
  InstanceKind,
  InstanceStatus,
  ListResult,
} from '../../../shared/control-answers';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { ExposeManager, ExposeManagerOptions } from '../expose/expose-manager';
import type { CleanupReport } from '../expose/leftovers';
import type { SshImage } from '../expose/ssh-image';
import { answerEnvironment } from '../environment/environment-answer';
import type { PortForwardTransport } from '../kube/pod-dialer';
import { startRuntimeDiagnostics, type RuntimeDiagnostics } from '../timing/runtime-diagnostics';
import { connectionStatus, readiness } from './connection-status';
import type { ConnectOptions } from './connect-options';
import {
  startControlServer,
  type ControlFailure,
  type ControlHandler,
  type ControlServer,
} from '../control/control-server';
import { acquireInstanceLock, type InstanceLock } from '../control/instance-lock';
import { NamesKeeper, type StartHelper } from './names-keeper';
import { ContextClients } from './context-clients';
import { silent, type InstanceLog, type Progress } from './instance-output';
import { InstanceExposes } from './instance-exposes';
import { ContextConnector } from './context-connector';
import { InstanceRefusedError } from './instance-refusal';
import type { ConnectRequest, EnvironmentRequest, ExposeInstanceRequest, Settled } from './instance-requests';
import { whenSettled } from './when-settled';
import { Connections } from './connections';
import { instanceStatus, listResult } from './instance-status';

export interface LocalizerInstanceOptions {
  kind: InstanceKind;
  version: string;
  stateDirectory: string;
  /** Connect settings for requests that leave them out (the window's connect, a bare CLI connect). */
  defaults: () => ConnectOptions & { sshImage: SshImage };
  /** The kubeconfig this instance was started with; requests that name none use it. */
  kubeconfig?: string;
  /**
   * Starts the privileged helper for names, saying what it does (a password prompt) through
   * `say`; resolves undefined when names stay off (declined, unavailable).
   */
  startHelper?: StartHelper;
  /** The port-forward transport tried first; SPDY over WebSocket by default. */
  firstTransport?: PortForwardTransport;
  /** Event-loop and GC figures in `list` (LOCALIZER_DIAGNOSTICS=1). */
  diagnostics?: boolean;
  /** Exposes' timing, for tests. */
  expose?: Pick<ExposeManagerOptions, 'keepaliveIntervalMs' | 'startTimeoutMs' | 'restoreTimeoutMs'>;
  log?: InstanceLog;
}

export class LocalizerInstance extends EventEmitter<{
  /** Tunnels or connections changed (not coalesced: listeners pace themselves). */
  change: [];
  /** What the instance undid after an earlier run of its own. */
  cleanup: [CleanupNotice];
  /** An expose ended by itself (its takeover was undone by someone else). */
  exposeEnded: [ExposeEndedNotice];
  /** Closed: the front end may exit. */
  closed: [];
}> {
  readonly identity: InstanceIdentity;
  private readonly connections: Connections;
  private readonly clients: ContextClients;
  private readonly exposing: InstanceExposes;
  private readonly names: NamesKeeper;
  private readonly connector: ContextConnector;
  private readonly history = new TunnelHistory();
  private closing = false;
  private readonly diagnostics: RuntimeDiagnostics | undefined;
  private control: ControlServer | undefined;
  /** Connects, disconnects and closes one at a time: each sees the last one's result. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: LocalizerInstanceOptions,
    private readonly lock: InstanceLock,
  ) {
    super();
    this.connections = new Connections(options.kubeconfig);
    this.identity = {
      kind: options.kind,
      pid: process.pid,
      version: options.version,
      stateDirectory: options.stateDirectory,
      startedAt: lock.holder.startedAt,
    };
    this.clients = new ContextClients({
      ...(options.firstTransport ? { firstTransport: options.firstTransport } : {}),
      log: (context, message) =>
        this.log(this.connections.size > 1 ? `[${context.name}] ${message}` : message),
      onHealthChange: () => this.emit('change'),
    });
    this.exposing = new InstanceExposes({
      stateDirectory: options.stateDirectory,
      ...(options.expose ? { timing: options.expose } : {}),
      connections: this.connections,
      clients: this.clients,
      sshImage: () => options.defaults().sshImage,
      isClosing: () => this.closing,
      releaseDialers: () => this.releaseDialers(),
      onChange: () => this.emit('change'),
      onCleanup: (notice) => this.emit('cleanup', notice),
      onEnded: (notice) => this.emit('exposeEnded', notice),
      log: (message, toldTheAsker) => this.log(message, toldTheAsker),
    });
    this.on('change', () => this.history.recordSoon(() => this.tunnels()));
    this.diagnostics = options.diagnostics ? startRuntimeDiagnostics() : undefined;
    this.names = new NamesKeeper({
      startHelper: options.startHelper,
      log: (message, toldTheAsker) => this.log(message, toldTheAsker),
      wanted: () => !this.closing && this.connections.size > 0,
    });
    this.connector = new ContextConnector({
      stateDirectory: options.stateDirectory,
      defaults: options.defaults,
      connections: this.connections,
      clients: this.clients,
      names: this.names,
      exposes: this.exposes,
      releaseDialers: () => this.releaseDialers(),
      onChange: () => this.emit('change'),
      log: (message) => this.log(message),
    });
  }

  /**
   * Takes the state directory (throws `InstanceRunningError` naming the one that has it). The
   * control socket is served by the front end's call to `serveControl`, once it can answer.
   */
  static open(options: LocalizerInstanceOptions): LocalizerInstance {
    const lock = acquireInstanceLock(options.stateDirectory, options.kind);
    return new LocalizerInstance(options, lock);
  }

  /**
   * Opens the control socket: from now on `localizer` commands drive this instance through
   * `handler` (built by the front end, `control-dispatch.ts`, so the instance does not know it).
   */
  async serve(handler: ControlHandler, classify: (error: unknown) => ControlFailure): Promise<void> {
    this.control = await startControlServer(this.options.stateDirectory, handler, classify);
  }

  /** The exposes themselves, as the connect path and the status read them. */
  private get exposes(): ExposeManager {
    return this.exposing.manager;
  }

  private log(message: string, toldTheAsker = false): void {
    this.options.log?.(message, toldTheAsker);
  }

  /** Closes the clients that nothing connects or exposes with any more. */
  private releaseDialers(): void {
    this.clients.releaseAllBut([
      ...[...this.connections.values()].map((c) => c.context),
      ...this.exposes.contextsInUse(),
    ]);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  // --- connect -----------------------------------------------------------------------------

  /**
   * Connects each asked context (already connected ones are left as they are) and resolves once
   * their engines watch the cluster; `whenReady` then waits for the forwards.
   */
  connect(request: ConnectRequest, progress: Progress = silent): Promise<string[]> {
    return this.serialized(() => {
      if (this.closing) throw new InstanceRefusedError('Localizer is stopping; connect again once it has.');
      return this.connector.connect(request, progress);
    });
  }

  /**
   * Resolves once every forward of these contexts is settled (running, or waiting for a pod the
   * cluster has not made ready, or failed with a reason) and the names are written; with the
   * forwards that wait or failed, so the caller can say so.
   */
  whenReady(contexts: readonly string[], progress: Progress = silent): Promise<Settled> {
    return whenSettled({
      changes: this,
      read: () =>
        contexts.map((name) => {
          const engine = this.connections.get(name)?.engine;
          return engine && readiness(engine.snapshot(), engine.timings.firstListAt !== undefined);
        }),
      flushNames: () => this.names.flush(),
      progress,
    });
  }

  /** Stops these contexts (every one when empty), their exposes first. Returns what could not be undone. */
  disconnect(contexts: readonly string[] = []): Promise<string[]> {
    return this.serialized(() => {
      const unknown = contexts.filter((name) => !this.connections.has(name));
      if (unknown.length > 0)
        throw new InstanceRefusedError(
          this.connections.size === 0
            ? `No context is connected, so ${unknown.join(', ')} cannot be disconnected.`
            : `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not connected; connected: ${[...this.connections.keys()].join(', ')}.`,
        );
      // Asked for by name, only those contexts' exposes end; asked for all, every expose does.
      return contexts.length > 0
        ? this.connector.disconnect(contexts, false)
        : this.connector.disconnect([...this.connections.keys()], true);
    });
  }

  // --- expose ------------------------------------------------------------------------------

  /** Starts an expose (cleaning up after earlier runs in its context first); resolves once it runs. */
  expose(request: ExposeInstanceRequest, progress: Progress = silent): Promise<TunnelStatus> {
    return this.exposing.expose(request, progress);
  }

  /** Stops the expose of `namespace/service`; resolves with a notice when its workloads were slow. */
  unexpose(target: { context?: string; namespace: string; service: string }): Promise<string | null> {
    return this.exposing.unexpose(target);
  }

  /** `localizer cleanup`: undoes what crashed exposes left in a context, never this instance's own. */
  cleanup(request: {
    source?: KubeSource;
    context?: string;
    force: boolean;
  }): Promise<CleanupReport & { context: string }> {
    return this.exposing.cleanup(request);
  }

  /** Undoes what exposes of earlier runs (killed, crashed) left, in each context their records name. */
  recoverEarlierRuns(): Promise<CleanupNotice[]> {
    return this.exposing.recoverEarlierRuns();
  }

  // --- environment -------------------------------------------------------------------------

  /**
   * A workload's container environment as its pods get it, with in-cluster addresses rewritten
   * to this machine's forwards when the context is connected. Secret values are in the answer
   * (the asking user may read them), never in the log.
   */
  async environment(request: EnvironmentRequest): Promise<EnvironmentAnswer> {
    const context = this.connections.contextFor(request.source, request.context);
    const connection = this.connections.get(context.name);
    return answerEnvironment(
      context,
      request,
      this.clients.apisFor(context),
      connection && { tunnels: connection.engine.snapshot(), clusterDomain: connection.clusterDomain },
    );
  }

  // --- status ------------------------------------------------------------------------------

  get connectedContexts(): string[] {
    return [...this.connections.keys()];
  }

  get hasWork(): boolean {
    return this.connections.size > 0 || this.exposes.exposed().length > 0;
  }

  /** Every tunnel: each context's forwards, then the exposes. */
  tunnels(): TunnelStatus[] {
    return [
      ...[...this.connections.values()].flatMap((c) => c.engine.snapshot()),
      ...this.exposes.snapshot(),
    ];
  }

  /** One context's connection as the tray and window show it (of `tunnels`), if connected. */
  connectionOf(name: string, tunnels: TunnelStatus[] = this.tunnels()): ConnectionStatus | undefined {
    const connection = this.connections.get(name);
    if (!connection) return undefined;
    const { engine } = connection;
    return connectionStatus(
      name,
      engine.health,
      tunnels.filter((t) => t.context === name),
      this.names.enabled,
      engine.timings.firstListAt !== undefined,
    );
  }

  list(): ListResult {
    return listResult(this.connections, this.tunnels(), this.diagnostics);
  }

  status(): InstanceStatus {
    const tunnels = this.tunnels();
    return instanceStatus({
      identity: this.identity,
      connections: this.connections,
      connectionOf: (name) => this.connectionOf(name, tunnels),
      transportOf: (context) => this.clients.transportOf(context),
      helper: this.names.status(this.connections.size > 0),
      tunnels,
      ipRange: this.connector.ipRange,
    });
  }

  /** Drops, recoveries and tunnels gone lately, oldest first (as of a moment ago). */
  tunnelEvents(): TunnelEvent[] {
    return this.history.events();
  }

  /** Quit: restores every exposed workload, removes every name, frees the state directory. */
  close(): Promise<string[]> {
    if (this.closing) return this.queue.then(() => []);
    this.closing = true;
    this.names.quieten();
    return this.serialized(async () => {
      await this.control?.close();
      const failures = await this.connector.disconnect([...this.connections.keys()], true);
      const { failures: exposeFailures } = await this.exposes.stopAll();
      this.releaseDialers();
      this.history.stop();
      this.diagnostics?.stop();
      this.lock.release();
      this.emit('closed');
      return [...failures, ...exposeFailures];
    });
  }
}
