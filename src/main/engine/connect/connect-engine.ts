/**
 * The connect engine for one kube context: watches Services and EndpointSlices, plans forwards,
 * gives each a stable loopback IP, runs its listeners, and hands the names and privileged-port
 * relays to the privileged helper in one write per burst of changes. Plain Node: the CLI, the
 * app and the tests drive the same engine.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { HostsEntry } from '../../../shared/helper-protocol';
import { ipv4Mapped } from '../../../shared/ipv4-range';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { KubeContext } from '../kube/kube-context';
import {
  createPodDialer,
  sessionKey,
  type PodDialer,
  type PodTarget,
  type PortForwardTransport,
} from '../kube/pod-dialer';
import { describeError, errorStatus } from '../kube/api-errors';
import { ResilientInformer, type InformerHealth } from '../kube/resilient-informer';
import { AddressBook } from './address-book';
import { planForwards, type ForwardPlan } from './forward-plan';
import { ForwardRuntime, type Relay } from './forward-runtime';
import type { HelperSync } from './helper-sync';
import { readiness } from './readiness';
import { RelayKeeper } from '../relay/relay-keeper';
import { defaultRelayImage } from '../relay/relay-pod';
import { targetKey } from '../relay/relay-protocol';

/**
 * The hosts lines for a forward's names. A name ending in `.local` also gets its address as
 * IPv4-mapped IPv6 (`::ffff:127.77.0.5`): macOS sends an IPv6 lookup of a `.local` name that
 * /etc/hosts cannot answer to mDNS, which waits about 5 s. The mapped address reaches the same
 * IPv4 listener, so nothing else is needed (see ARCHITECTURE.md for why not an alias).
 */
export function hostsEntriesFor(ip: string, names: readonly string[]): HostsEntry[] {
  const local = names.filter((name) => name.endsWith('.local'));
  return [{ ip, names }, ...(local.length > 0 ? [{ ip: ipv4Mapped(ip), names: local }] : [])];
}

/** The cluster cannot be used as configured; the message says what to do. */
export class ConnectError extends Error {
  override name = 'ConnectError';
}

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
  /**
   * The context's dialer, shared with its exposes (the instance owns and closes it); without one
   * the engine makes its own, starting with `firstTransport`.
   */
  dialer?: PodDialer;
  /** The port-forward transport tried first when the engine makes its dialer; SPDY over WebSocket by default. */
  firstTransport?: PortForwardTransport;
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

export interface EngineHealth {
  state: 'connecting' | 'connected' | 'degraded' | 'stopped';
  /** What is wrong, or what is limited (for example only some namespaces are readable). */
  reason: string;
}

export class ConnectEngine extends EventEmitter<{ status: [TunnelStatus[]]; health: [EngineHealth] }> {
  private readonly informers: {
    services: ResilientInformer<k8s.V1Service>[];
    slices: ResilientInformer<k8s.V1EndpointSlice>[];
  } = {
    services: [],
    slices: [],
  };
  private readonly runtimes = new Map<string, ForwardRuntime>();
  /** The pods forwards and relays reached at the last reconcile, whose sessions go when they leave. */
  private alivePods = new Map<string, PodTarget>();
  private readonly addresses: AddressBook;
  private readonly dialer: PodDialer;
  /** A dialer given by the instance is shared with its exposes, and closed by the instance. */
  private readonly ownsDialer: boolean;
  private readonly relays: RelayKeeper | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
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
    this.ownsDialer = options.dialer === undefined;
    this.dialer =
      options.dialer ??
      createPodDialer(options.kubeContext.kubeConfig, {
        ...(options.log ? { log: options.log } : {}),
        ...(options.firstTransport ? { firstTransport: options.firstTransport } : {}),
        onHealthChange: () => this.emitStatusSoon(),
      });
    const relays = options.relays;
    if (relays?.enabled)
      this.relays = new RelayKeeper({
        core: options.kubeContext.kubeConfig.makeApiClient(k8s.CoreV1Api),
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

  /** The label of this connect's relay pods, which cleanup must leave alone while it runs. */
  get relaySession(): string | undefined {
    return this.relays?.session;
  }

  /**
   * Checks that the cluster answers, picks cluster-wide or per-namespace watching (falling back
   * when RBAC forbids listing everywhere), and starts. Throws `ConnectError` when it cannot.
   */
  async start(): Promise<void> {
    const { kubeContext } = this.options;
    const core = kubeContext.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const discovery = kubeContext.kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
    await this.checkCredentials();
    let namespaces = [...this.options.namespaces];
    if (namespaces.length === 0) {
      try {
        await core.listServiceForAllNamespaces({ limit: 1 });
      } catch (error) {
        const status = errorStatus(error);
        if (status === 403) {
          namespaces = [kubeContext.namespace];
          this.scopeNote = `listing services in all namespaces is forbidden for this user, so only namespace ${kubeContext.namespace} is connected; pass --namespace for others you may read`;
        } else {
          throw this.explain(error);
        }
      }
    } else {
      for (const namespace of namespaces) {
        await core.listNamespacedService({ namespace, limit: 1 }).catch((error: unknown) => {
          throw this.explain(error, namespace);
        });
      }
    }
    const scopes = namespaces.length === 0 ? [undefined] : namespaces;
    for (const namespace of scopes) {
      const services = new ResilientInformer<k8s.V1Service>({
        kubeConfig: kubeContext.kubeConfig,
        path: namespace ? `/api/v1/namespaces/${namespace}/services` : '/api/v1/services',
        list: () =>
          namespace ? core.listNamespacedService({ namespace }) : core.listServiceForAllNamespaces(),
      });
      const slices = new ResilientInformer<k8s.V1EndpointSlice>({
        kubeConfig: kubeContext.kubeConfig,
        path: namespace
          ? `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`
          : '/apis/discovery.k8s.io/v1/endpointslices',
        list: () =>
          namespace
            ? discovery.listNamespacedEndpointSlice({ namespace })
            : discovery.listEndpointSliceForAllNamespaces(),
      });
      this.informers.services.push(services);
      this.informers.slices.push(slices);
    }
    for (const informer of [...this.informers.services, ...this.informers.slices]) {
      informer.on('change', () => this.scheduleReconcile());
      informer.on('health', () => this.updateHealth());
      informer.start();
    }
    this.watchForSleep();
  }

  /**
   * Runs the context's credential plugin (cloud login tools), if it has one, before anything
   * else: its failure means logging in again, not a network problem.
   */
  private async checkCredentials(): Promise<void> {
    const { kubeConfig, name } = this.options.kubeContext;
    const command = (kubeConfig.getCurrentUser()?.exec as { command?: unknown } | undefined)?.command;
    if (typeof command !== 'string') return;
    try {
      await kubeConfig.applyToHTTPSOptions({});
    } catch (error) {
      const said = (error instanceof Error ? error.message : String(error)).trim();
      throw new ConnectError(
        `The credential plugin "${command}" of context "${name}" failed${said ? `: ${said}` : ''}. Run it yourself (or your cloud CLI's login) to sign in again, then retry.`,
      );
    }
  }

  private explain(error: unknown, namespace?: string): ConnectError {
    const server = this.options.kubeContext.server;
    const status = errorStatus(error);
    const detail = describeError(error);
    if (status === 401) {
      return new ConnectError(
        `The cluster at ${server} rejected the credentials of context "${this.options.kubeContext.name}" (401): the token may have expired. Log in again (for example with your cloud CLI) and retry.`,
      );
    }
    if (status === 403) {
      return new ConnectError(
        `The user of context "${this.options.kubeContext.name}" may not list services${namespace ? ` in namespace ${namespace}` : ''}: ${detail}. Ask for read access or choose another --namespace.`,
      );
    }
    if (status === 404 && namespace)
      return new ConnectError(`There is no namespace "${namespace}" in the cluster at ${server}.`);
    return new ConnectError(
      `Cannot reach the Kubernetes API server at ${server}: ${detail}. Check that the cluster is up and that you are on its network (VPN), then retry.`,
    );
  }

  private updateHealth(): void {
    const all: InformerHealth[] = [...this.informers.services, ...this.informers.slices].map((i) => i.health);
    const degraded = all.find(
      (h): h is Extract<InformerHealth, { state: 'degraded' }> => h.state === 'degraded',
    );
    let next: EngineHealth;
    if (this.stopped) next = { state: 'stopped', reason: '' };
    else if (degraded)
      next = {
        state: 'degraded',
        reason: `lost the watch on the cluster (${degraded.reason}); retrying in ${Math.round(degraded.retryInMs / 100) / 10} s`,
      };
    else if (all.every((h) => h.state === 'connected')) next = { state: 'connected', reason: this.scopeNote };
    else next = { state: 'connecting', reason: this.scopeNote };
    if (next.state !== this.health.state || next.reason !== this.health.reason) {
      this.health = next;
      this.emit('health', next);
    }
  }

  /** Times the engine saw the clock jump and started watching afresh. */
  wakeUps = 0;

  /** Sleep, or a suspended laptop: the clock jumps. Start watching afresh, once, with backoff. */
  private watchForSleep(): void {
    const intervalMs = this.options.wakeCheckMs ?? 2000;
    const clock = this.options.now ?? Date.now;
    let last = clock();
    this.wakeTimer = setInterval(() => {
      const now = clock();
      if (now - last > intervalMs + 10_000) {
        this.wakeUps++;
        this.options.log?.(
          `the clock jumped ${Math.round((now - last) / 1000)} s (sleep or suspend); watching the cluster afresh`,
        );
        for (const informer of [...this.informers.services, ...this.informers.slices]) informer.restartNow();
        // Port-forward sessions from before the sleep are most likely dead, and would take new
        // connections and answer nothing: the next connection to each pod opens a fresh one.
        this.dialer.close();
      }
      last = now;
    }, intervalMs);
    this.wakeTimer.unref();
  }

  private scheduleReconcile(): void {
    if (this.stopped) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.reconcile(), this.options.settleMs ?? 50);
  }

  private includeNamespace = (namespace: string): boolean =>
    !this.options.excludeNamespaces.includes(namespace);

  private reconcile(): void {
    if (this.stopped) return;
    const listed = [...this.informers.services, ...this.informers.slices].every(
      (i) => i.health.state === 'connected',
    );
    if (listed) this.timings.firstListAt ??= Date.now();
    const services = this.informers.services.flatMap((i) => i.list());
    const slices = this.informers.slices.flatMap((i) => i.list());
    const plans = planForwards(services, slices, {
      clusterDomain: this.options.clusterDomain,
      bareNamespace: this.options.kubeContext.namespace,
      includeNamespace: this.includeNamespace,
      relays: this.relays !== undefined,
    }).map((plan) => this.withRelayProblem(plan));
    const keys = new Set(plans.map((p) => p.key));
    for (const [key, runtime] of this.runtimes) {
      if (!keys.has(key)) {
        void runtime.close();
        this.runtimes.delete(key);
      }
    }
    this.updateRelayTargets(plans);
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

  /**
   * Hands the relay the targets each namespace needs, and skips a relayed forward, saying why,
   * where the relay cannot serve (forbidden, refused, an image that cannot be pulled).
   */
  private withRelayProblem(plan: ForwardPlan): ForwardPlan {
    const relays = this.relays;
    if (!relays || plan.relayRoutes.length === 0 || plan.skipReason) return plan;
    const problem = relays.problem(plan.namespace);
    if (!problem) return plan;
    if (plan.endpoints.length === 0) return { ...plan, relayRoutes: [], skipReason: problem };
    const skipped = plan.relayRoutes
      .map((r) => `${r.protocol.toUpperCase()} port ${String(r.port)}`)
      .join(', ');
    const note = `${skipped} skipped: ${problem}`;
    return { ...plan, relayRoutes: [], note: plan.note ? `${plan.note}; ${note}` : note };
  }

  private updateRelayTargets(plans: readonly ForwardPlan[]): void {
    const relays = this.relays;
    if (!relays) return;
    const byNamespace = new Map<string, Set<string>>();
    for (const plan of plans) {
      const targets = byNamespace.get(plan.namespace) ?? new Set<string>();
      for (const route of plan.relayRoutes)
        for (const destination of route.destinations) targets.add(targetKey(route.protocol, destination));
      byNamespace.set(plan.namespace, targets);
    }
    for (const [namespace, targets] of byNamespace) relays.setTargets(namespace, targets);
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
      .map((runtime) => {
        const status = runtime.status();
        const taken = status.hostnames.filter((name) => lost.has(name));
        if (taken.length === 0) return status;
        const holders = [...new Set(taken.map((name) => lost.get(name)))].join(', ');
        const note = `${taken.join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken by context ${holders}; reach it at ${status.ip ?? 'its address'}`;
        return {
          ...status,
          hostnames: status.hostnames.filter((name) => !lost.has(name)),
          reason: status.reason ? `${status.reason}; ${note}` : note,
        };
      })
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
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
    clearInterval(this.wakeTimer);
    await Promise.all([...this.informers.services, ...this.informers.slices].map((i) => i.stop()));
    await Promise.all([...this.runtimes.values()].map((r) => r.close()));
    this.runtimes.clear();
    await this.relays?.stop();
    if (this.ownsDialer) this.dialer.close();
    this.addresses.save();
    const sync = this.options.sync;
    if (sync) {
      sync.update(this.options.kubeContext.name, [], []);
      await sync.flush();
    }
    this.updateHealth();
  }
}
