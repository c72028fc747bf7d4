/**
 * The one Localizer of a user (of a state directory): the tray app, the browser harness,
 * `localizer daemon` and a foreground `connect` or `expose` each run exactly this, and nothing
 * else wires engine parts together. It owns the connected contexts and their engines, the shared
 * names (helper, sync, address book), the exposes, the cleanup after earlier runs, the one status
 * computation, and the control socket every `localizer` command talks to.
 */
import { TunnelHistory, type TunnelEvent } from './tunnel-history';
import { EventEmitter } from 'node:events';
import { delimiter, join } from 'node:path';
import type { CleanupNotice, ConnectionStatus, ExposeEndedNotice } from '../../../shared/app-state';
import type {
  EnvironmentAnswer,
  InstanceIdentity,
  InstanceKind,
  InstanceStatus,
  KubeSource,
  ListResult,
} from '../../../shared/control-protocol';
import type { ExposeMode, TunnelStatus } from '../../../shared/tunnel-status';
import { AddressBook } from '../connect/address-book';
import { ConnectEngine, ConnectError } from '../connect/connect-engine';
import { ExposeManager, type ExposeManagerOptions } from '../expose/expose-manager';
import { isProcessAlive, readRecords } from '../expose/expose-records';
import type { CleanupReport } from '../expose/leftovers';
import type { PortMapping } from '../expose/port-map';
import type { SshImage } from '../expose/ssh-pod';
import { ExposeRefusedError } from '../expose/workload-scaler';
import { EnvironmentError } from '../environment/container-environment';
import { answerEnvironment } from '../environment/environment-answer';
import { KubeconfigError, loadKubeContext, type KubeContext } from '../kube/kube-context';
import { createPodDialer, type PodDialer, type PortForwardTransport } from '../kube/pod-dialer';
import { startRuntimeDiagnostics, type RuntimeDiagnostics } from '../timing/runtime-diagnostics';
import { connectionStatus, contextStatus, countByStatus, readiness } from './connection-status';
import { connectOptionsProblem, type ConnectOptions } from './connect-options';
import {
  startControlServer,
  type ControlFailure,
  type ControlHandler,
  type ControlServer,
} from '../control/control-server';
import { acquireInstanceLock, type InstanceLock } from '../control/instance-lock';
import { NamesKeeper, type StartHelper } from './names-keeper';

/** A request the instance will not carry out as asked; the message says why and what to do. */
export class InstanceRefusedError extends Error {
  override name = 'InstanceRefusedError';
}

/** Whether an error is the user's to fix (a refusal), rather than a bug. */
export function isRefusal(error: unknown): boolean {
  return (
    error instanceof InstanceRefusedError ||
    error instanceof ExposeRefusedError ||
    error instanceof EnvironmentError ||
    error instanceof KubeconfigError ||
    error instanceof ConnectError
  );
}

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

export interface ConnectRequest {
  source?: KubeSource;
  /** Empty: the kubeconfig's current context. */
  contexts: string[];
  namespaces?: string[];
  excludeNamespaces?: string[];
  clusterDomain?: string;
  ipRange?: string;
  names: boolean;
  relays?: boolean;
  relayImage?: string;
}

export interface EnvironmentRequest {
  source?: KubeSource;
  context?: string;
  namespace: string;
  /** `deploy/NAME`, `sts/NAME`, `pod/NAME` or a service's name. */
  workload: string;
  container?: string;
  files?: boolean;
}

export interface ExposeInstanceRequest {
  source?: KubeSource;
  context?: string;
  namespace: string;
  service: string;
  mappings: PortMapping[];
  image?: SshImage;
  /** `takeover` by default. */
  mode?: ExposeMode;
  /** A personal intercept's header and value; implies `personal`. */
  header?: { name: string; value: string };
}

interface Connection {
  context: KubeContext;
  engine: ConnectEngine;
  clusterDomain: string;
}

type Progress = (message: string) => void;

/** What a connect left for the cluster to fix: forwards with no ready pod, and ones that failed. */
export interface Settled {
  waiting: string[];
  failed: string[];
}

/** `; 2 wait for a ready pod (web/a, web/b)`, or nothing when every forward runs. */
export function describeSettled(settled: Settled): string {
  const list = (names: string[]): string =>
    names.length > 3
      ? `${names.slice(0, 3).join(', ')} and ${String(names.length - 3)} more`
      : names.join(', ');
  return [
    settled.waiting.length > 0
      ? `; ${String(settled.waiting.length)} wait${settled.waiting.length === 1 ? 's' : ''} for a ready pod (${list(settled.waiting)})`
      : '',
    settled.failed.length > 0
      ? `; ${String(settled.failed.length)} failed (${list(settled.failed)}; \`localizer list\` says why)`
      : '',
  ].join('');
}
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
  private readonly connections = new Map<string, Connection>();
  /**
   * One port-forward dialer per context, shared by its connect, its relay
   * and its exposes: one set of sessions per pod, one transport choice, one place the
   * `LOCALIZER_PORT_FORWARD` choice is applied.
   */
  private readonly dialers = new Map<string, PodDialer>();
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
    this.identity = {
      kind: options.kind,
      pid: process.pid,
      version: options.version,
      stateDirectory: options.stateDirectory,
      startedAt: lock.holder.startedAt,
    };
    this.exposes = new ExposeManager({
      stateDirectory: options.stateDirectory,
      ...options.expose,
      otherLiveSessions: () =>
        [...this.connections.values()].flatMap((c) => (c.engine.relaySession ? [c.engine.relaySession] : [])),
      dialerFor: (context) => this.dialerFor(context),
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

  /** A context is the same one only on the same API server (another kubeconfig may reuse a name). */
  private dialerKey(context: { name: string; server: string }): string {
    return `${context.name}|${context.server}`;
  }

  private dialerFor(context: KubeContext): PodDialer {
    const key = this.dialerKey(context);
    let dialer = this.dialers.get(key);
    if (!dialer) {
      dialer = createPodDialer(context.kubeConfig, {
        ...(this.options.firstTransport ? { firstTransport: this.options.firstTransport } : {}),
        log: (message) => this.log(this.connections.size > 1 ? `[${context.name}] ${message}` : message),
        onHealthChange: () => this.emit('change'),
      });
      this.dialers.set(key, dialer);
    }
    return dialer;
  }

  /** Closes the dialers of contexts that nothing connects or exposes any more. */
  private releaseDialers(): void {
    const inUse = new Set([
      ...[...this.connections.values()].map((c) => this.dialerKey(c.context)),
      ...this.exposes.exposed().map((e) => this.dialerKey({ name: e.context, server: e.server })),
    ]);
    for (const [key, dialer] of this.dialers) {
      if (inUse.has(key)) continue;
      dialer.close();
      this.dialers.delete(key);
    }
  }

  /** How port-forwards reach pods in `context` now, once one has. */
  private transportOf(context: KubeContext): PortForwardTransport | undefined {
    return this.dialers.get(this.dialerKey(context))?.transport;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Loads a context as the asking side would: its kubeconfig, else ours, else its KUBECONFIG. */
  private loadContext(source: KubeSource | undefined, context: string | undefined): KubeContext {
    const kubeconfig = source?.kubeconfig ?? this.options.kubeconfig;
    return loadKubeContext({
      ...(kubeconfig ? { kubeconfig } : {}),
      ...(context ? { context } : {}),
      ...(source?.kubeconfigEnv !== undefined && !kubeconfig
        ? { env: { ...process.env, KUBECONFIG: source.kubeconfigEnv } }
        : {}),
    });
  }

  /**
   * The context an expose or cleanup is for: the one named, the only one connected, or the
   * kubeconfig's current context when none is. Several connected and none named is a question.
   */
  private contextFor(source: KubeSource | undefined, name: string | undefined): KubeContext {
    if (source?.kubeconfig) return this.loadContext(source, name);
    if (name) return this.connections.get(name)?.context ?? this.loadContext(source, name);
    const connected = [...this.connections.values()];
    if (connected.length === 1 && connected[0]) return connected[0].context;
    if (connected.length > 1)
      throw new InstanceRefusedError(
        `Several contexts are connected (${[...this.connections.keys()].join(', ')}): pick one with --context.`,
      );
    return this.loadContext(source, undefined);
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
    const defaults = this.options.defaults();
    const options: ConnectOptions = {
      ipRange: request.ipRange ?? this.ipRange ?? defaults.ipRange,
      clusterDomain: request.clusterDomain ?? defaults.clusterDomain,
      namespaces: request.namespaces ?? defaults.namespaces,
      excludeNamespaces: request.excludeNamespaces ?? defaults.excludeNamespaces,
      relays: request.relays ?? defaults.relays,
      relayImage: request.relayImage ?? defaults.relayImage,
    };
    const problem = connectOptionsProblem(options);
    if (problem) throw new InstanceRefusedError(problem);
    if (this.ipRange && options.ipRange !== this.ipRange)
      throw new InstanceRefusedError(
        `The running Localizer gives addresses from ${this.ipRange}, and this connect asks for ${options.ipRange} (--ip-range, or the address range in Settings). Connect with ${this.ipRange}, or disconnect every context first (\`localizer disconnect\`, or Disconnect in the tray).`,
      );
    const names: (string | undefined)[] = request.contexts.length > 0 ? request.contexts : [undefined];
    const contexts = names.map((name) => this.loadContext(request.source, name));
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
          dialer: this.dialerFor(context),
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
    return new Promise((resolve, reject) => {
      let last = '';
      const check = (): void => {
        const connections = contexts.map((name) => this.connections.get(name));
        if (connections.some((c) => c === undefined)) {
          this.off('change', check);
          reject(new InstanceRefusedError('The connection was stopped before it was ready.'));
          return;
        }
        const states = connections.map((c) =>
          c ? readiness(c.engine.snapshot(), c.engine.timings.firstListAt !== undefined) : undefined,
        );
        const listed = states.every((s) => s?.listed);
        const ready = states.reduce((sum, s) => sum + (s?.ready ?? 0), 0);
        const total = states.reduce((sum, s) => sum + (s?.total ?? 0), 0);
        const line = `${String(ready)} of ${String(total)} services ready`;
        if (listed && line !== last) {
          last = line;
          progress(line);
        }
        if (states.every((s) => s?.allReady)) {
          this.off('change', check);
          const settled: Settled = {
            waiting: states.flatMap((s) => s?.waiting ?? []),
            failed: states.flatMap((s) => s?.failed ?? []),
          };
          // Say "ready" only once the names are in /etc/hosts too.
          void this.names.flush().then(() => resolve(settled));
        }
      };
      this.on('change', check);
      check();
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
    const context = this.contextFor(request.source, request.context);
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
    const context = this.contextFor(request.source, request.context);
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
    const orphaned = readRecords(this.options.stateDirectory).filter((r) => !isProcessAlive(r.pid));
    const notices: CleanupNotice[] = [];
    for (const name of new Set(orphaned.map((r) => r.context))) {
      // The files the crashed run read the context from: this instance may know no other.
      const files = orphaned.find((r) => r.context === name && r.kubeconfigFiles?.length)?.kubeconfigFiles;
      let notice: CleanupNotice | undefined;
      try {
        const context = files
          ? loadKubeContext({ context: name, env: { KUBECONFIG: files.join(delimiter) } })
          : this.loadContext(undefined, name);
        notice = this.reportCleanup(name, await this.exposes.recover(context), silent);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        notice = this.reportCleanup(
          name,
          {
            done: [],
            skipped: [],
            failed: [`${message} Run \`localizer cleanup --context ${name}\` once the cluster answers.`],
          },
          silent,
        );
      }
      if (notice) notices.push(notice);
    }
    return notices;
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
    const context = this.contextFor(request.source, request.context);
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
    const engines = [...this.connections.values()].map((c) => c.engine);
    const first = engines[0];
    const degraded = engines.find((e) => e.health.state !== 'connected');
    return {
      tunnels: this.tunnels(),
      health: (degraded ?? first)?.health ?? { state: 'connected', reason: '' },
      pid: process.pid,
      ...(first ? { stats: { hostsWrites: first.hostsWrites, timings: first.timings } } : {}),
      ...(this.diagnostics ? { diagnostics: this.diagnostics.read() } : {}),
    };
  }

  status(): InstanceStatus {
    const contexts = [...this.connections.entries()].flatMap(([name, c]) => {
      const status = this.connectionOf(name);
      return status ? [contextStatus(c.context.server, status, this.transportOf(c.context))] : [];
    });
    return {
      instance: this.identity,
      contexts,
      helper: this.names.status(this.connections.size > 0),
      counts: countByStatus(this.tunnels()),
      ipRange: this.ipRange ?? null,
      exposes: this.tunnels()
        .filter((t) => t.kind === 'expose')
        .map(({ context, namespace, name, status, mode, route }) => ({
          context,
          namespace,
          name,
          status,
          ...(mode ? { mode } : {}),
          ...(route ? { route } : {}),
        })),
    };
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
