/**
 * The egress relays of one connected context: at most one relay pod per namespace, made on the
 * first connection that needs it, replaced when a new target appears (its allowed targets are
 * fixed at start), deleted once idle and when connect stops. Before any pod exists a server-side
 * dry run asks whether one could be made, so a forbidden relay shows as a skipped forward with
 * the reason, never as one that fails on every call.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../kube/api-errors';
import type { PodDialer } from '../kube/pod-dialer';
import { removeRecord, writeRecord } from '../expose/expose-records';
import { systemClock, type Clock } from '../timing/clock';
import { relayPod, relayPodName } from './relay-pod';
import {
  deleteRelayPod,
  dialRelay,
  RelayPodHopelessError,
  waitUntilRunning,
  type RelayPodAccess,
} from './relay-pod-life';
import { RelayRefusedError, targetKey, type RelayDestination, type RelayProtocol } from './relay-protocol';

/** A refused dry run is asked again this often, so a permission granted meanwhile takes effect by itself. */
const recheckMs = 60_000;

export interface RelayKeeperOptions {
  core: k8s.CoreV1Api;
  dialer: PodDialer;
  context: string;
  kubeconfigFiles: readonly string[];
  owner: string;
  image: string;
  stateDirectory: string;
  /** A relay pod with no connection for this long is deleted. */
  idleMs?: number;
  readyTimeoutMs?: number;
  clock?: Clock;
  log?: (message: string) => void;
  /** A namespace's relay became usable, or cannot be. */
  onChange: () => void;
}

interface RelayPodState {
  name: string;
  allowed: ReadonlySet<string>;
  ready: Promise<void>;
  uid: string | undefined;
  active: number;
  idleTimer: unknown;
  startedAt: number;
}

interface NamespaceRelays {
  targets: Set<string>;
  current: RelayPodState | undefined;
  /** Replaced pods, deleted once their last connection ends. */
  retired: Set<RelayPodState>;
  /** Why no relay can serve here, once known. */
  problem: string | undefined;
  /** The problem is the cluster's refusal, which the dry run asks about again. */
  refused: boolean;
  recheck: unknown;
  checked: boolean;
}

export class RelayKeeper {
  /** Labels every relay pod of this connect; cleanup tells live relays from leftovers by it. */
  readonly session = randomUUID();
  private readonly namespaces = new Map<string, NamespaceRelays>();
  private readonly clock: Clock;
  private recorded = false;
  private stopped = false;

  private readonly access: RelayPodAccess;

  constructor(private readonly options: RelayKeeperOptions) {
    this.clock = options.clock ?? systemClock;
    this.access = { core: options.core, dialer: options.dialer, clock: this.clock, log: options.log };
  }

  private relaysOf(namespace: string): NamespaceRelays {
    let relays = this.namespaces.get(namespace);
    if (!relays) {
      relays = {
        targets: new Set(),
        current: undefined,
        retired: new Set(),
        problem: undefined,
        refused: false,
        recheck: undefined,
        checked: false,
      };
      this.namespaces.set(namespace, relays);
    }
    return relays;
  }

  /**
   * The targets the forwards in `namespace` need now. The first time, checks with a dry run
   * that a relay pod may be made there.
   */
  setTargets(namespace: string, targets: Iterable<string>): void {
    const relays = this.relaysOf(namespace);
    relays.targets = new Set(targets);
    if (relays.checked || relays.targets.size === 0 || this.stopped) return;
    relays.checked = true;
    void this.checkAllowed(namespace, relays);
  }

  /** Why relays cannot work in `namespace`, once that is known. */
  problem(namespace: string): string | undefined {
    return this.namespaces.get(namespace)?.problem;
  }

  /** Read through a method: `stopped` changes while a call awaits, which narrowing cannot see. */
  private isStopped(): boolean {
    return this.stopped;
  }

  /** Every relay pod that may carry connections, so the dialer keeps their sessions. */
  pods(): { namespace: string; pod: string; uid: string | undefined }[] {
    return [...this.namespaces].flatMap(([namespace, relays]) =>
      [relays.current, ...relays.retired].flatMap((p) => (p ? [{ namespace, pod: p.name, uid: p.uid }] : [])),
    );
  }

  /** The relay pod serving `namespace` now, if there is one. */
  podName(namespace: string): string | undefined {
    return this.namespaces.get(namespace)?.current?.name;
  }

  private spec(namespace: string, name: string, targets: readonly string[]): k8s.V1Pod {
    return relayPod({
      name,
      namespace,
      session: this.session,
      owner: this.options.owner,
      image: this.options.image,
      targets,
    });
  }

  private async checkAllowed(namespace: string, relays: NamespaceRelays): Promise<void> {
    const body = this.spec(namespace, relayPodName(this.session, 'check'), [...relays.targets]);
    try {
      await this.options.core.createNamespacedPod({ namespace, body, dryRun: 'All' });
      if (relays.refused) {
        relays.refused = false;
        relays.problem = undefined;
        this.options.log?.(`relay pods may now be made in namespace ${namespace}`);
        this.options.onChange();
      }
    } catch (error) {
      // An unreachable API server is no refusal: the first connection tries again.
      this.markRefused(namespace, relays, error);
    }
  }

  /**
   * The cluster refused a relay pod (RBAC, Pod Security, validation): the namespace's relayed
   * forwards are skipped with the reason, and the dry run is asked again later, so a permission
   * granted meanwhile brings them back without a reconnect. Other errors are left to the caller.
   */
  private markRefused(namespace: string, relays: NamespaceRelays, error: unknown): void {
    if (![400, 403, 422].includes(errorStatus(error) ?? 0)) return;
    const problem = this.refusal(error, namespace);
    if (relays.problem !== problem) {
      relays.problem = problem;
      this.options.onChange();
    }
    relays.refused = true;
    this.clock.clearTimeout(relays.recheck);
    relays.recheck = this.clock.setTimeout(() => {
      if (!this.stopped) void this.checkAllowed(namespace, relays);
    }, recheckMs);
    // A pending re-check must not keep a stopping process alive.
    (relays.recheck as { unref?: () => void } | undefined)?.unref?.();
  }

  private refusal(error: unknown, namespace: string): string {
    const said = describeError(error);
    if (errorStatus(error) === 403 && /violates PodSecurity/i.test(said))
      return `the relay pod is refused by Pod Security in namespace ${namespace} (${said}); it runs as non-root with no capabilities, so allow the "restricted" level there, or turn relays off (--no-relays)`;
    if (errorStatus(error) === 403)
      return `a relay pod is needed, and your account may not create pods in namespace ${namespace} (${said}); ask for create and delete on pods there, or turn relays off (--no-relays)`;
    return `the cluster refused the relay pod in namespace ${namespace}: ${said}`;
  }

  /**
   * A stream to `destination` through the namespace's relay, once the relay says it reached it;
   * makes the relay pod first if there is none that may reach it.
   */
  async open(
    namespace: string,
    protocol: RelayProtocol,
    destination: RelayDestination,
    retried = false,
  ): Promise<Duplex> {
    if (this.stopped) throw new Error('connect is stopping');
    const relays = this.relaysOf(namespace);
    if (relays.problem) throw new Error(relays.problem);
    const key = targetKey(protocol, destination);
    if (!relays.current || !relays.current.allowed.has(key)) this.replace(namespace, relays, key);
    const pod = relays.current;
    if (!pod) throw new Error('no relay pod');
    pod.active++;
    this.clock.clearTimeout(pod.idleTimer);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      pod.active--;
      this.whenIdle(namespace, relays, pod);
    };
    try {
      await pod.ready;
    } catch (error) {
      release();
      throw error;
    }
    try {
      const stream = await dialRelay(this.access, { namespace, ...pod }, protocol, destination);
      stream.once('close', release);
      return stream;
    } catch (error) {
      release();
      if (error instanceof RelayRefusedError || retried || this.isStopped()) throw error;
      // The pod is unreachable (deleted, evicted, its node gone): replace it, once, for this call.
      this.options.log?.(
        `relay pod ${namespace}/${pod.name} cannot be reached (${error instanceof Error ? error.message : String(error)}); starting another`,
      );
      if (relays.current === pod) relays.current = undefined;
      void this.deletePod(namespace, pod.name);
      return this.open(namespace, protocol, destination, true);
    }
  }

  /** Starts a relay pod that may reach every current target (and `needed`); the old one retires. */
  private replace(namespace: string, relays: NamespaceRelays, needed: string): void {
    const previous = relays.current;
    if (previous) {
      relays.retired.add(previous);
      this.whenIdle(namespace, relays, previous);
    }
    const allowed = new Set([...relays.targets, needed]);
    const name = relayPodName(this.session, randomBytes(3).toString('hex'));
    const state: RelayPodState = {
      name,
      allowed,
      uid: undefined,
      active: 0,
      idleTimer: undefined,
      startedAt: this.clock.now(),
      ready: Promise.resolve(),
    };
    state.ready = this.start(namespace, state);
    // A failed start leaves no pod behind and no half-working relay: the next connection tries afresh.
    state.ready.catch(() => {
      if (relays.current === state) relays.current = undefined;
    });
    relays.current = state;
  }

  private async start(namespace: string, pod: RelayPodState): Promise<void> {
    this.record(namespace);
    this.options.log?.(`starting relay pod ${namespace}/${pod.name} for ${[...pod.allowed].join(', ')}`);
    try {
      const created = await this.options.core.createNamespacedPod({
        namespace,
        body: this.spec(namespace, pod.name, [...pod.allowed].sort()),
      });
      pod.uid = created.metadata?.uid;
    } catch (error) {
      this.markRefused(namespace, this.relaysOf(namespace), error);
      throw new Error(this.refusal(error, namespace));
    }
    try {
      const timeoutMs = this.options.readyTimeoutMs ?? 120_000;
      await waitUntilRunning(this.access, { namespace, name: pod.name }, timeoutMs, () => this.stopped);
    } catch (error) {
      void this.deletePod(namespace, pod.name);
      if (!(error instanceof RelayPodHopelessError)) throw error;
      const relays = this.relaysOf(namespace);
      relays.problem = `the relay pod ${namespace}/${pod.name} cannot start (${error.message}); set a relay image this cluster can pull (--relay-image, Settings; now ${this.options.image}), or turn relays off (--no-relays)`;
      this.options.onChange();
      throw new Error(relays.problem);
    }
    this.options.onChange();
  }

  private whenIdle(namespace: string, relays: NamespaceRelays, pod: RelayPodState): void {
    // Once stopping, `stop` deletes every pod; a timer now would only keep the process alive.
    if (pod.active > 0 || this.stopped) return;
    this.clock.clearTimeout(pod.idleTimer);
    const retired = relays.retired.has(pod);
    pod.idleTimer = this.clock.setTimeout(
      () => {
        if (pod.active > 0) return;
        if (relays.current === pod) relays.current = undefined;
        relays.retired.delete(pod);
        this.options.log?.(`relay pod ${namespace}/${pod.name} is idle; deleting it`);
        void this.deletePod(namespace, pod.name).then(() => this.options.onChange());
      },
      retired ? 0 : (this.options.idleMs ?? 5 * 60_000),
    );
  }

  private deletePod(namespace: string, name: string): Promise<void> {
    return deleteRelayPod(this.access, namespace, name);
  }

  /** Written before the first pod, so a run killed with it still running is cleaned up next time. */
  private record(namespace: string): void {
    if (this.recorded) return;
    this.recorded = true;
    writeRecord(this.options.stateDirectory, {
      session: this.session,
      pid: process.pid,
      context: this.options.context,
      kubeconfigFiles: [...this.options.kubeconfigFiles],
      namespace,
      service: '',
      objectName: relayPodName(this.session, ''),
      workloads: [],
    });
  }

  /** Deletes every relay pod of this connect (waiting for pods still starting), and the record. */
  async stop(): Promise<void> {
    this.stopped = true;
    const deletions: Promise<void>[] = [];
    for (const [namespace, relays] of this.namespaces) {
      this.clock.clearTimeout(relays.recheck);
      for (const pod of [relays.current, ...relays.retired]) {
        if (!pod) continue;
        this.clock.clearTimeout(pod.idleTimer);
        deletions.push(pod.ready.catch(() => undefined).then(() => this.deletePod(namespace, pod.name)));
      }
    }
    await Promise.all(deletions);
    if (this.recorded) removeRecord(this.options.stateDirectory, this.session);
  }
}
