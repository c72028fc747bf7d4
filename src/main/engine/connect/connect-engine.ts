/**
 * The connect engine for one kube context: watches Services and EndpointSlices, plans forwards,
 * gives each a stable loopback IP, runs its listeners, and hands the names and privileged-port
 * relays to the privileged helper in one write per burst of changes. Plain Node: the CLI, the
 * app and the tests drive the same engine.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { ClusterApis, ClusterClients } from '../kube/cluster-apis';
import type { HostsEntry } from '../../../shared/helper-protocol';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { KubeContext } from '../kube/kube-context';
import { sessionKey, type PodDialer, type PodTarget } from '../kube/pod-dialer';
import { ClusterWatch, engineHealth, type EngineHealth } from './cluster-watch';
import { watchScope, type StartStep } from './cluster-access';
import { hostsEntriesFor, withoutNamesHeldElsewhere } from './service-names';
import { AddressBook } from './address-book';
import { planForwards, serviceForwardKey, type ForwardPlan } from './forward-plan';
import { ForwardRuntime } from './forward-runtime';
import type { Relay } from './privileged-ports';
import type { HelperSync } from './helper-sync';
import { readiness } from './readiness';
import { RelayKeeper } from '../relay/relay-keeper';
import { defaultRelayImage } from '../relay/relay-pod';
import { relayTargetsByNamespace, withRelayProblem } from './relay-plans';
import { watchClockJumps } from '../timing/clock-jumps';

export interface ConnectEngineOptions {
  kubeContext: KubeContext;
  /** Where addresses persist, per context. */
  stateDirectory: string;
  /** Loopback range for service addresses; must not overlap 127.0.0.1. */
  ipRange: string;
  clusterDomain: string;
  /** Only these namespaces; all when empty. */
  namespaces: readonly string[];
  excludeNamespaces: readonly string[];
  /**
   * Where names and privileged-port relays go: shared by every connected context, and undefined
   * when names are disabled.
   */
  sync: HelperSync | undefined;
  /** Addresses shared with other contexts in this process; a book of its own by default. */
  addresses?: AddressBook;
  /** The context's API clients and dialer, shared with its exposes; the instance owns them and closes the dialer. */
  clients: ClusterClients;
  log?: (message: string) => void;
  /**
   * The egress relay for what port-forward cannot reach (ExternalName, selector-less, UDP); off
   * when `enabled` is false, and those forwards are skipped saying so.
   */
  relays?: { enabled: boolean; image?: string; owner: string; idleMs?: number };
  /** How long to wait after a change before applying it, so bursts become one update. */
  settleMs?: number;
  /** The wall clock, injectable so tests can make it jump as a laptop waking from sleep does. */
  now?: () => number;
  /** How often to look for a clock jump, in ms. */
  wakeCheckMs?: number;
}

export class ConnectEngine extends EventEmitter<{ status: [TunnelStatus[]]; health: [EngineHealth] }> {
  /** Made by `start()`, once the scope is known. */
  private watch: ClusterWatch | undefined;
  private readonly runtimes = new Map<string, ForwardRuntime>();
  /** The pods forwards and relays reached at the last reconcile, whose sessions go when they leave. */
  private alivePods = new Map<string, PodTarget>();
  private readonly addresses: AddressBook;
  private readonly apis: ClusterApis;
  private readonly dialer: PodDialer;
  private readonly relays: RelayKeeper | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private stopWatchingForSleep: (() => void) | undefined;
  private scopeNote = '';
  private stopped = false;
  /** When it started, first had the full list of services and slices, and first had every forward ready (ms since epoch). */
  readonly timings: { startedAt: number; firstListAt?: number; readyAt?: number } = { startedAt: Date.now() };
  health: EngineHealth = { state: 'connecting', reason: '' };

  constructor(private readonly options: ConnectEngineOptions) {
    super();
    this.addresses =
      options.addresses ?? new AddressBook(options.ipRange, join(options.stateDirectory, 'addresses.json'));
    options.sync?.register(options.kubeContext.name);
    this.apis = options.clients.apis;
    this.dialer = options.clients.dialer;
    const relays = options.relays;
    if (relays?.enabled)
      this.relays = new RelayKeeper({
        core: this.apis.core,
        dialer: this.dialer,
        context: options.kubeContext.name,
        kubeconfigFiles: options.kubeContext.files,
        owner: relays.owner,
        image: relays.image ?? defaultRelayImage,
        stateDirectory: options.stateDirectory,
        ...(relays.idleMs !== undefined ? { idleMs: relays.idleMs } : {}),
        ...(options.log ? { log: options.log } : {}),
        onChange: () => this.scheduleReconcile(),
      });
  }

  /** What `start` waits for now, for a note when it takes long. */
  startStep: StartStep = 'credentials';

  /** The label of this connect's relay pods, which cleanup must leave alone while it runs. */
  get relaySession(): string | undefined {
    return this.relays?.session;
  }

  /**
   * Checks that the cluster answers, picks cluster-wide or per-namespace watching (falling back
   * when RBAC forbids listing everywhere), and starts. Throws `ConnectError` when it cannot.
   */
  async start(): Promise<void> {
    const { kubeContext, namespaces } = this.options;
    const scope = await watchScope(
      kubeContext,
      this.apis.core,
      namespaces,
      (step) => (this.startStep = step),
    );
    this.scopeNote = scope.note;
    const watch = new ClusterWatch(this.options.kubeContext.kubeConfig, this.apis, scope.namespaces);
    this.watch = watch;
    watch.on('change', () => this.scheduleReconcile());
    watch.on('health', () => this.updateHealth());
    watch.start();
    this.watchForSleep();
  }

  private updateHealth(): void {
    const next =
      this.watch?.health(this.stopped, this.scopeNote) ?? engineHealth([], this.stopped, this.scopeNote);
    if (next.state !== this.health.state || next.reason !== this.health.reason) {
      this.health = next;
      this.emit('health', next);
    }
  }

  /** Times the engine saw the clock jump and started watching afresh. */
  wakeUps = 0;

  /** Sleep, or a suspended laptop: the clock jumps. Start watching afresh, once, with backoff. */
  private watchForSleep(): void {
    this.stopWatchingForSleep = watchClockJumps({
      intervalMs: this.options.wakeCheckMs ?? 2000,
      now: this.options.now ?? Date.now,
      onJump: (jumpMs) => {
        this.wakeUps++;
        this.options.log?.(
          `the clock jumped ${Math.round(jumpMs / 1000)} s (sleep or suspend); watching the cluster afresh`,
        );
        this.watch?.restartNow();
        // Port-forward sessions from before the sleep are most likely dead, and would take new
        // connections and answer nothing: the next connection to each pod opens a fresh one.
        this.dialer.close();
      },
    });
  }

  private scheduleReconcile(): void {
    if (this.stopped) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.reconcile(), this.options.settleMs ?? 50);
  }

  private includeNamespace = (namespace: string): boolean =>
    !this.options.excludeNamespaces.includes(namespace);

  private reconcile(): void {
    const watch = this.watch;
    if (this.stopped || !watch) return;
    if (watch.listed) this.timings.firstListAt ??= Date.now();
    const services = watch.listServices();
    const slices = watch.listSlices();
    const plans = planForwards(services, slices, {
      clusterDomain: this.options.clusterDomain,
      bareNamespace: this.options.kubeContext.namespace,
      includeNamespace: this.includeNamespace,
      relays: this.relays !== undefined,
    }).map((plan) => withRelayProblem(plan, this.relays?.problem(plan.namespace)));
    const keys = new Set(plans.map((p) => p.key));
    for (const [key, runtime] of this.runtimes) {
      if (!keys.has(key)) {
        void runtime.close();
        this.runtimes.delete(key);
      }
    }
    if (this.relays)
      for (const [namespace, targets] of relayTargetsByNamespace(plans))
        this.relays.setTargets(namespace, targets);
    const inUse = new Set(plans.map((p) => this.addressKey(p.key)));
    for (const plan of plans) this.applyPlan(plan, inUse);
    // Sessions follow pod identity: a pod that left the ready endpoints, or was replaced under
    // the same name (a StatefulSet's), gets no new connections on its old session.
    const alive = new Map(
      [
        ...plans.flatMap((plan) =>
          plan.endpoints
            .filter((e) => e.ready)
            .map((e) => ({ namespace: plan.namespace, pod: e.pod, uid: e.uid })),
        ),
        ...(this.relays?.pods() ?? []),
      ].map((target) => [sessionKey(target), target]),
    );
    for (const [key, target] of this.alivePods) if (!alive.has(key)) this.dialer.retire(target);
    this.alivePods = alive;
    this.addresses.save();
    this.pushToHelper(plans);
    this.emitStatus();
  }

  /** Address-book keys carry the context, so contexts sharing a book never share an address. */
  private addressKey(planKey: string): string {
    return `${this.options.kubeContext.name}|${planKey}`;
  }

  private applyPlan(plan: ForwardPlan, inUse: ReadonlySet<string>): void {
    const existing = this.runtimes.get(plan.key);
    if (existing) {
      existing.apply(plan);
      return;
    }
    const ip = this.addresses.addressOf(this.addressKey(plan.key), inUse);
    this.runtimes.set(
      plan.key,
      new ForwardRuntime(plan, {
        context: this.options.kubeContext.name,
        ip,
        dialer: this.dialer,
        canBindPrivileged: process.getuid?.() === 0,
        relaysAvailable: this.options.sync?.enabled ?? false,
        relay: this.relays,
        onChange: () => this.emitStatusSoon(),
      }),
    );
  }

  /** Names go to the shared helper writer, which sends one request per burst. */
  private pushToHelper(plans: ForwardPlan[]): void {
    const sync = this.options.sync;
    if (!sync) return;
    const entries: HostsEntry[] = plans
      .filter((p) => !p.skipReason)
      .flatMap((p) => {
        const ip = this.runtimes.get(p.key)?.ip;
        return ip && p.names.length > 0 ? hostsEntriesFor(ip, p.names) : [];
      });
    sync.update(this.options.kubeContext.name, entries, undefined);
    this.pushRelaysSoon();
  }

  private relaysTimer: NodeJS.Timeout | undefined;

  /** Relays follow listeners, which bind asynchronously; collect them after they settle. */
  private pushRelaysSoon(): void {
    const sync = this.options.sync;
    if (!sync) return;
    clearTimeout(this.relaysTimer);
    this.relaysTimer = setTimeout(() => {
      const relays: Relay[] = [...this.runtimes.values()].flatMap((r) => r.relays());
      sync.update(this.options.kubeContext.name, undefined, relays);
    }, 20);
  }

  private statusTimer: NodeJS.Timeout | undefined;

  private emitStatusSoon(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.pushRelaysSoon();
      this.emitStatus();
    }, 20);
  }

  private emitStatus(): void {
    const snapshot = this.snapshot();
    if (this.timings.firstListAt !== undefined && this.timings.readyAt === undefined) {
      const allBound = [...this.runtimes.values()].every((r) => r.isSettled());
      if (readiness(snapshot, true).allReady && allBound) {
        void this.flush().then(() => {
          this.timings.readyAt ??= Date.now();
        });
      }
    }
    this.emit('status', snapshot);
  }

  /**
   * Every forward's status, sorted by namespace and name. Names another context holds are left
   * out, and the reason says where they went.
   */
  snapshot(): TunnelStatus[] {
    const lost = this.options.sync?.lostNames(this.options.kubeContext.name) ?? new Map<string, string>();
    return [...this.runtimes.values()]
      .map((runtime) => withoutNamesHeldElsewhere(runtime.status(), lost))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  /**
   * The pods new connections to a Service's forward go to, as this engine sees the cluster now
   * (its watches lag the API server by a moment); undefined when the Service is not forwarded.
   */
  routedPods(namespace: string, name: string): string[] | undefined {
    return this.runtimes.get(serviceForwardKey(namespace, name))?.readyPods();
  }

  /** How many times names were sent to the helper (shared by every context). */
  get hostsWrites(): number {
    return this.options.sync?.writes ?? 0;
  }

  /** Resolves once the helper has every pending write, for tests and `connect` progress. */
  async flush(): Promise<void> {
    await this.options.sync?.flush();
  }

  /** Closes listeners, removes names and relays, stops watching. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.settleTimer);
    clearTimeout(this.relaysTimer);
    clearTimeout(this.statusTimer);
    this.stopWatchingForSleep?.();
    await this.watch?.stop();
    await Promise.all([...this.runtimes.values()].map((r) => r.close()));
    this.runtimes.clear();
    await this.relays?.stop();
    this.addresses.save();
    const sync = this.options.sync;
    if (sync) {
      sync.update(this.options.kubeContext.name, [], []);
      await sync.flush();
    }
    this.updateHealth();
  }
}
