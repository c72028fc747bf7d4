/**
 * The one Localizer of a user (of a state directory): the tray app, the browser harness,
 * `localizer daemon` and a foreground `connect` or `expose` each run exactly this, and nothing
 * else wires engine parts together. It owns the connected contexts and their engines, the shared
 * names (helper, sync, address book), the exposes, the cleanup after earlier runs, the one status
 * computation, and the control socket every `localizer` command talks to.
 */
import { TunnelHistory, type TunnelEvent } from './tunnel-history';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { CleanupNotice, ConnectionStatus, ExposeEndedNotice } from '../../../shared/app-state';
import type {
  EnvironmentAnswer,
  InstanceIdentity,
  InstanceKind,
  InstanceStatus,
  KubeSource,
  ListResult,
} from '../../../shared/control-protocol';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import { AddressBook } from '../connect/address-book';
import { ConnectEngine } from '../connect/connect-engine';
import { ExposeManager, type ExposeManagerOptions } from '../expose/expose-manager';
import type { CleanupReport } from '../expose/leftovers';
import type { SshImage } from '../expose/ssh-pod';
import { answerEnvironment } from '../environment/environment-answer';
import type { PortForwardTransport } from '../kube/pod-dialer';
import { startRuntimeDiagnostics, type RuntimeDiagnostics } from '../timing/runtime-diagnostics';
import { connectionStatus, readiness } from './connection-status';
import { connectOptionsProblem, withConnectDefaults, type ConnectOptions } from './connect-options';
import {
  startControlServer,
  type ControlFailure,
  type ControlHandler,
  type ControlServer,
} from '../control/control-server';
import { acquireInstanceLock, type InstanceLock } from '../control/instance-lock';
import { NamesKeeper, type StartHelper } from './names-keeper';
import { ContextDialers, dialerKey } from './context-dialers';
import { recoverEarlierRuns } from './earlier-runs';
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
  log?: (message: string) => void;
}

type Progress = (message: string) => void;

const silent: Progress = () => undefined;
/** How soon after a change the tunnels are read for the history. */
const historyReadDelayMs = 250;

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
  private readonly dialers: ContextDialers;
  private readonly exposes: ExposeManager;
  private readonly names: NamesKeeper;
  private addresses: AddressBook | undefined;
  private ipRange: string | undefined;
  private cleanups = 0;
  private endedExposes = 0;
  private readonly history = new TunnelHistory();
  /** A read of the tunnels for the history is due (changes come in bursts; one read serves them). */
  private historyTimer: NodeJS.Timeout | undefined;
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
    this.dialers = new ContextDialers({
      ...(options.firstTransport ? { firstTransport: options.firstTransport } : {}),
      log: (context, message) =>
        this.log(this.connections.size > 1 ? `[${context.name}] ${message}` : message),
      onHealthChange: () => this.emit('change'),
    });
    this.exposes = new ExposeManager({
      stateDirectory: options.stateDirectory,
      ...options.expose,
      otherLiveSessions: () =>
        [...this.connections.values()].flatMap((c) => (c.engine.relaySession ? [c.engine.relaySession] : [])),
      dialerFor: (context) => this.dialers.for(context),
    });
    this.exposes.on('status', () => this.emit('change'));
    this.exposes.on('ended', (expose, reason) => {
      this.log(`The expose of ${expose.namespace}/${expose.name} ended by itself. ${reason}`);
      this.releaseDialers();
      this.emit('exposeEnded', {
        id: ++this.endedExposes,
        context: expose.context,
        namespace: expose.namespace,
        service: expose.name,
        reason,
      });
      this.emit('change');
    });
    this.on('change', () => {
      this.historyTimer ??= setTimeout(() => {
        this.historyTimer = undefined;
        this.history.record(this.tunnels(), new Date());
      }, historyReadDelayMs).unref();
    });
    this.diagnostics = options.diagnostics ? startRuntimeDiagnostics() : undefined;
    this.names = new NamesKeeper({
      startHelper: options.startHelper,
      log: (message) => this.log(message),
      wanted: () => !this.closing && this.connections.size > 0,
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

  private log(message: string): void {
    this.options.log?.(message);
  }

  /** Closes the dialers of contexts that nothing connects or exposes any more. */
  private releaseDialers(): void {
    this.dialers.releaseAllBut(
      new Set([
        ...[...this.connections.values()].map((c) => dialerKey(c.context)),
        ...this.exposes.exposed().map((e) => dialerKey({ name: e.context, server: e.server })),
      ]),
    );
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
    return this.serialized(() => this.connectNow(request, progress));
  }

  private async connectNow(request: ConnectRequest, progress: Progress): Promise<string[]> {
    if (this.closing) throw new InstanceRefusedError('Localizer is stopping; connect again once it has.');
    // A connected instance's range is the default for every later connect.
    const defaults = this.options.defaults();
    const options = withConnectDefaults(request, { ...defaults, ipRange: this.ipRange ?? defaults.ipRange });
    const problem = connectOptionsProblem(options);
    if (problem) throw new InstanceRefusedError(problem);
    if (this.ipRange && options.ipRange !== this.ipRange)
      throw new InstanceRefusedError(
        `The running Localizer gives addresses from ${this.ipRange}, and this connect asks for ${options.ipRange} (--ip-range, or the address range in Settings). Connect with ${this.ipRange}, or disconnect every context first (\`localizer disconnect\`, or Disconnect in the tray).`,
      );
    const names: (string | undefined)[] = request.contexts.length > 0 ? request.contexts : [undefined];
    const contexts = names.map((name) => this.connections.load(request.source, name));
    const fresh = contexts.filter((c) => !this.connections.has(c.name));
    for (const context of contexts)
      if (this.connections.has(context.name)) progress(`Context ${context.name} is already connected.`);
    if (fresh.length === 0) return contexts.map((c) => c.name);

    if (!this.ipRange) {
      this.ipRange = options.ipRange;
      // One address book for every context, so no two services anywhere share an address.
      this.addresses = new AddressBook(options.ipRange, join(this.options.stateDirectory, 'addresses.json'));
    }
    if (request.names) await this.names.start(options.ipRange, progress);
    const started: string[] = [];
    try {
      for (const context of fresh) {
        progress(`Connecting to ${context.server} (context ${context.name})…`);
        const engine = new ConnectEngine({
          kubeContext: context,
          stateDirectory: this.options.stateDirectory,
          ipRange: options.ipRange,
          clusterDomain: options.clusterDomain,
          namespaces: options.namespaces,
          excludeNamespaces: options.excludeNamespaces,
          sync: this.names.sync,
          relays: { enabled: options.relays, image: options.relayImage, owner: this.exposes.owner },
          ...(this.addresses ? { addresses: this.addresses } : {}),
          dialer: this.dialers.for(context),
          log: (message) => this.log(this.connections.size > 1 ? `[${context.name}] ${message}` : message),
        });
        engine.on('status', () => this.emit('change'));
        engine.on('health', (health) => {
          if (health.reason) this.log(`${context.name}: ${health.state}: ${health.reason}`);
          this.emit('change');
        });
        this.connections.set(context.name, { context, engine, clusterDomain: options.clusterDomain });
        started.push(context.name);
        await engine.start();
      }
    } catch (error) {
      await this.disconnectNow(started, false);
      throw error;
    }
    this.emit('change');
    return contexts.map((c) => c.name);
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
        ? this.disconnectNow(contexts, false)
        : this.disconnectNow([...this.connections.keys()], true);
    });
  }

  /**
   * Stops these contexts' connections and their exposes; with `everything`, every expose, those
   * of contexts that are not connected included (a disconnect of all, a quit).
   */
  private async disconnectNow(contexts: readonly string[], everything: boolean): Promise<string[]> {
    const { failures, notices } = await this.exposes.stopAll(
      everything ? undefined : (id) => contexts.includes(id.context),
    );
    for (const notice of notices) this.log(`Stopped the expose ${notice}`);
    await Promise.all(
      contexts.map(async (name) => {
        await this.connections.get(name)?.engine.stop();
        this.connections.delete(name);
      }),
    );
    if (this.connections.size === 0) {
      await this.names.stop();
      this.addresses = undefined;
      this.ipRange = undefined;
    }
    this.releaseDialers();
    this.emit('change');
    return failures;
  }

  // --- expose ------------------------------------------------------------------------------

  /** Starts an expose (cleaning up after earlier runs in its context first); resolves once it runs. */
  async expose(request: ExposeInstanceRequest, progress: Progress = silent): Promise<TunnelStatus> {
    if (this.closing) throw new InstanceRefusedError('Localizer is stopping; expose again once it has.');
    const context = this.connections.contextFor(request.source, request.context);
    this.reportCleanup(context.name, await this.exposes.recover(context), progress);
    const image = request.image ?? this.options.defaults().sshImage;
    try {
      return await this.exposes.expose(
        context,
        {
          namespace: request.namespace,
          service: request.service,
          mappings: request.mappings,
          image,
          ...(request.mode ? { mode: request.mode } : {}),
          ...(request.header ? { header: request.header } : {}),
        },
        progress,
      );
    } catch (error) {
      this.releaseDialers();
      throw error;
    }
  }

  /** Stops the expose of `namespace/service`; resolves with a notice when its workloads were slow. */
  async unexpose(target: { context?: string; namespace: string; service: string }): Promise<string | null> {
    const matches = this.exposes
      .exposed()
      .filter(
        (e) =>
          e.namespace === target.namespace &&
          e.service === target.service &&
          (!target.context || e.context === target.context),
      );
    const match = matches[0];
    if (!match)
      throw new InstanceRefusedError(
        `${target.namespace}/${target.service} is not exposed by this Localizer (\`localizer list\` shows what is).`,
      );
    if (matches.length > 1)
      throw new InstanceRefusedError(
        `${target.namespace}/${target.service} is exposed in ${matches.map((m) => m.context).join(' and ')}: pick one with --context.`,
      );
    const stopped = await this.exposes.unexpose(match.context, match.namespace, match.service);
    this.releaseDialers();
    return stopped?.notice ?? null;
  }

  /** `localizer cleanup`: undoes what crashed exposes left in a context, never this instance's own. */
  async cleanup(request: {
    source?: KubeSource;
    context?: string;
    force: boolean;
  }): Promise<CleanupReport & { context: string }> {
    const context = this.connections.contextFor(request.source, request.context);
    const report = await this.exposes.recover(context, request.force);
    this.reportCleanup(context.name, report, silent);
    return { context: context.name, ...report };
  }

  /**
   * Undoes what exposes of earlier runs (killed, crashed) left, in each context their records
   * name. Without a record it asks the cluster nothing; the next expose in a context also cleans
   * up there, for leftovers whose record was lost.
   */
  async recoverEarlierRuns(): Promise<CleanupNotice[]> {
    const reports = await recoverEarlierRuns({
      stateDirectory: this.options.stateDirectory,
      loadContext: (name) => this.connections.load(undefined, name),
      recover: (context) => this.exposes.recover(context),
    });
    return reports.flatMap(({ context, report }) => this.reportCleanup(context, report, silent) ?? []);
  }

  private reportCleanup(
    context: string,
    report: CleanupReport,
    progress: Progress,
  ): CleanupNotice | undefined {
    for (const line of report.done) progress(`Cleanup: ${line}.`);
    for (const line of report.skipped) progress(`Left alone: ${line}.`);
    for (const line of report.failed) progress(`Cleanup failed: ${line}. Run \`localizer cleanup\` again.`);
    if (report.done.length + report.failed.length === 0) return undefined;
    const notice: CleanupNotice = { id: ++this.cleanups, context, ...report };
    this.emit('cleanup', notice);
    return notice;
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

  /** One context's connection as the tray and window show it, or undefined when not connected. */
  connectionOf(name: string): ConnectionStatus | undefined {
    const connection = this.connections.get(name);
    if (!connection) return undefined;
    const { engine } = connection;
    return connectionStatus(
      name,
      engine.health,
      [...engine.snapshot(), ...this.exposes.snapshot().filter((t) => t.context === name)],
      this.names.enabled,
      engine.timings.firstListAt !== undefined,
    );
  }

  list(): ListResult {
    return listResult(this.connections, this.tunnels(), this.diagnostics);
  }

  status(): InstanceStatus {
    return instanceStatus({
      identity: this.identity,
      connections: this.connections,
      connectionOf: (name) => this.connectionOf(name),
      transportOf: (context) => this.dialers.transportOf(context),
      helper: this.names.status(this.connections.size > 0),
      tunnels: this.tunnels(),
      ipRange: this.ipRange,
    });
  }

  /** Drops, recoveries and tunnels gone lately, oldest first (as of at most `historyReadDelayMs` ago). */
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
      const failures = await this.disconnectNow([...this.connections.keys()], true);
      const { failures: exposeFailures } = await this.exposes.stopAll();
      this.releaseDialers();
      clearTimeout(this.historyTimer);
      this.diagnostics?.stop();
      this.lock.release();
      this.emit('closed');
      return [...failures, ...exposeFailures];
    });
  }
}
