/**
 * One forward at run time: each connection to one of its listeners (`port-listeners.ts`)
 * tunnelled to a ready pod, taken in turn, or carried through the egress relay
 * (`relay-routing.ts`), and the counters and status a user sees. Listeners are open only while a
 * pod is ready, so a caller gets "connection refused" rather than a silent hang when none is.
 */
import { forwardStatus } from './forward-status';
import type { Socket } from 'node:net';
import type { TunnelCounters, TunnelStatus } from '../../../shared/tunnel-status';
import type { PodDialer } from '../kube/pod-dialer';
import { describeRoutes, type ForwardPlan, type PlannedEndpoint } from './forward-plan';
import { carryToPod, probePod, type PodConnectionAttempt } from './pod-connection';
import { backoffDelay } from '../timing/backoff';
import { PortListeners } from './port-listeners';
import type { Relay } from './privileged-ports';
import { RelayRouting, type RelayOpener } from './relay-routing';

export interface ForwardRuntimeOptions {
  context: string;
  ip: string;
  dialer: PodDialer;
  /** Whether ports below 1024 can be bound directly (running as root). */
  canBindPrivileged: boolean;
  /** Whether a helper is there to relay privileged ports. */
  relaysAvailable: boolean;
  /** Carries the plan's relay routes; without it they are not served. */
  relay?: RelayOpener | undefined;
  onChange: () => void;
  now?: () => Date;
}

export class ForwardRuntime {
  private plan: ForwardPlan;
  private readonly listeners: PortListeners;
  /** Present when the forward has a relay to carry its relay routes. */
  private readonly relayRouting: RelayRouting | undefined;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  private counters: Required<TunnelCounters> = {
    connections: 0,
    activeConnections: 0,
    bytesIn: 0,
    bytesOut: 0,
    reconnects: 0,
    retries: 0,
    failures: 0,
    stalls: 0,
  };
  /** Stalled sessions the dialer counted per pod, as last seen (pods come and go; the sum does not). */
  private readonly stallsByPod = new Map<string, number>();
  private lastError: string | null = null;
  private lastEndpoint: string | null = null;
  private failingSince: number | undefined;
  private lastChange: string;
  private lastState = '';
  private closed = false;

  constructor(
    plan: ForwardPlan,
    private readonly options: ForwardRuntimeOptions,
  ) {
    this.plan = plan;
    this.lastChange = this.now();
    this.listeners = new PortListeners({
      ip: options.ip,
      canBindPrivileged: options.canBindPrivileged,
      relaysAvailable: options.relaysAvailable,
      onConnection: (socket, port, name) => this.onConnection(socket, port, name),
      onChange: options.onChange,
    });
    this.relayRouting =
      options.relay &&
      new RelayRouting({
        ip: options.ip,
        namespace: () => this.plan.namespace,
        relay: options.relay,
        canBindPrivileged: options.canBindPrivileged,
        relaysAvailable: options.relaysAvailable,
        counters: this.counters,
        onCarried: (pod) => (this.lastEndpoint = pod ?? this.lastEndpoint),
        onFailed: (problem) => (this.lastError = problem),
        onChange: options.onChange,
      });
    this.apply(plan);
  }

  private now(): string {
    return (this.options.now?.() ?? new Date()).toISOString();
  }

  get ip(): string {
    return this.options.ip;
  }

  /** Relays the helper must hold for this forward's privileged ports. */
  relays(): Relay[] {
    return [...this.listeners.privilegedRelays(), ...(this.relayRouting?.privilegedRelays() ?? [])];
  }

  /** The pods new connections go to, as planned now. */
  readyPods(): string[] {
    return this.plan.endpoints.filter((e) => e.ready).map((e) => e.pod);
  }

  /** Takes a new plan: opens and closes listeners to match, keeps live connections. */
  apply(plan: ForwardPlan): void {
    this.plan = plan;
    const ready = !plan.skipReason && plan.endpoints.some((e) => e.ready);
    const relayed = plan.skipReason || !this.relayRouting ? [] : plan.relayRoutes;
    this.relayRouting?.matchDatagramRoutes(relayed.filter((r) => r.protocol === 'udp'));
    this.listeners.match(
      new Map([
        ...(ready ? plan.tcpPorts.map((p) => [p.port, p.name] as const) : []),
        ...relayed.filter((r) => r.protocol === 'tcp').map((r) => [r.port, r.name] as const),
      ]),
    );
    this.options.onChange();
  }

  /** Counts a caller's connection while it lasts, and closes it with the forward. */
  private track(socket: Socket): void {
    this.counters.connections++;
    this.counters.activeConnections++;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.counters.activeConnections--;
      this.sockets.delete(socket);
    });
  }

  private onConnection(socket: Socket, port: number, portName: string): void {
    const route = this.plan.relayRoutes.find((r) => r.protocol === 'tcp' && r.port === port);
    if (route && this.relayRouting) {
      this.track(socket);
      this.relayRouting.carry(socket, route);
      return;
    }
    const candidates = this.plan.endpoints.filter((e) => e.ready && e.ports[portName] !== undefined);
    if (candidates.length === 0) {
      socket.destroy();
      return;
    }
    // Round robin over the ready pods; the others follow in order, for a retry.
    const first = this.next++ % candidates.length;
    const ordered = [...candidates.slice(first), ...candidates.slice(0, first)];
    this.track(socket);
    carryToPod({
      socket,
      dialer: this.options.dialer,
      attempts: ordered.map((endpoint) => this.attemptFor(endpoint, portName)),
      onCarried: ({ target }) => {
        this.lastEndpoint = target.pod;
        this.recovered();
      },
      onAttemptFailed: ({ target, port }, error, retrying) => {
        // A pod that cannot be reached through its session may be gone or replaced: the next
        // connection to it opens a fresh session rather than trusting this one.
        this.options.dialer.retire(target);
        if (retrying) this.counters.retries++;
        else {
          this.counters.failures++;
          this.failingSince ??= Date.now();
          // The name as it is now: the plan may have renamed the port since the call came in.
          this.scheduleProbe(this.listeners.nameOf(port) ?? portName);
        }
        this.recordError(`${target.pod}:${String(port)}: ${error.message}`);
      },
      onBytes: (direction, count) => {
        if (direction === 'out') this.counters.bytesOut += count;
        else this.counters.bytesIn += count;
      },
    });
  }

  /** Where a connection to the service port named `portName` goes on `endpoint`'s pod. */
  private attemptFor(endpoint: PlannedEndpoint, portName: string): PodConnectionAttempt {
    return {
      target: { namespace: this.plan.namespace, pod: endpoint.pod, uid: endpoint.uid },
      port: endpoint.ports[portName] ?? 0,
    };
  }

  private recovered(): void {
    if (this.failingSince === undefined) return;
    this.failingSince = undefined;
    this.probeAttempts = 0;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.counters.reconnects++;
    this.options.onChange();
  }

  private probeTimer: NodeJS.Timeout | undefined;
  private probeAttempts = 0;

  /**
   * After a connection nobody could carry, try one by ourselves (1 s, doubling to 30 s) until
   * one goes through: a forward is 'reconnecting' until it has reconnected, not until the next
   * caller happens to come by.
   */
  private scheduleProbe(portName: string): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(
      () => {
        this.probeTimer = undefined;
        if (this.closed || this.failingSince === undefined) return;
        const endpoint = this.plan.endpoints.find((e) => e.ready && e.ports[portName] !== undefined);
        if (!endpoint) return; // no pod: 'waiting' says so, and a new pod brings a new plan
        probePod(this.options.dialer, this.attemptFor(endpoint, portName)).then(
          () => this.recovered(),
          () => this.scheduleProbe(portName),
        );
      },
      backoffDelay(this.probeAttempts++, { minMs: 1_000, maxMs: 30_000 }),
    );
    this.probeTimer.unref();
  }

  private recordError(message: string): void {
    this.lastError = message;
    this.options.onChange();
  }

  status(): TunnelStatus {
    const { plan } = this;
    const readyCount = plan.endpoints.filter((e) => e.ready).length;
    const bindErrors = [...this.listeners.bindErrors(), ...(this.relayRouting?.bindErrors() ?? [])];
    const relayOnly = plan.endpoints.length === 0 && plan.relayRoutes.length > 0;
    const slowReaderNote = this.readSessionHealth();
    const relayNote =
      plan.relayRoutes.length > 0
        ? `through the egress relay${this.relayRouting?.podNote() ?? ', made on the first connection'}: ${describeRoutes(plan.relayRoutes)}`
        : '';
    const { status, reason } = forwardStatus({
      skipReason: plan.skipReason,
      endpoints: plan.endpoints.length,
      ready: readyCount,
      relayOnly,
      bindErrors,
      failing: this.failingSince !== undefined,
      relayFailing: this.relayRouting?.failing ?? false,
      lastError: this.lastError,
      relayNote,
      slowReaderNote,
      planNote: plan.note,
    });
    const state = `${status}|${reason}`;
    if (state !== this.lastState) {
      this.lastState = state;
      this.lastChange = this.now();
    }
    return {
      context: this.options.context,
      kind: 'forward',
      namespace: plan.namespace,
      name: plan.name,
      status,
      reason,
      endpoint: this.lastEndpoint ?? plan.endpoints.find((e) => e.ready)?.pod ?? null,
      ip: plan.skipReason ? null : this.options.ip,
      hostnames: plan.skipReason ? [] : plan.names,
      ports: plan.ports,
      counters: { ...this.counters },
      lastError: this.lastError,
      lastChange: this.lastChange,
      transport: relayOnly || plan.skipReason ? null : (this.options.dialer.transport ?? null),
    };
  }

  /**
   * Reads what the dialer knows of the sessions to this forward's pods (the dialer logs the
   * changes): sessions replaced for stalling (into the counters), and a client that stopped
   * reading and so holds up the other connections of its session (for the reason).
   */
  private readSessionHealth(): string {
    const notes: string[] = [];
    for (const endpoint of this.plan.endpoints) {
      const health = this.options.dialer.health({
        namespace: this.plan.namespace,
        pod: endpoint.pod,
        uid: endpoint.uid,
      });
      if (health.stalls > 0) this.stallsByPod.set(endpoint.pod, health.stalls);
      if (health.waitingOnSlowReader > 0) {
        const others = health.waitingOnSlowReader;
        notes.push(
          `a client of pod ${endpoint.pod} stopped reading, so ${String(others)} other connection${others === 1 ? '' : 's'} to it wait${others === 1 ? 's' : ''} for it (the kubelet's port-forward cannot slow one connection alone)`,
        );
      }
    }
    this.counters.stalls = [...this.stallsByPod.values()].reduce((sum, n) => sum + n, 0);
    return notes.join('; ');
  }

  /** Whether every listener that should be open is. */
  isSettled(): boolean {
    return this.listeners.isSettled() && (this.relayRouting?.isSettled() ?? true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    for (const socket of this.sockets) socket.destroy();
    this.relayRouting?.close();
    await this.listeners.close();
  }
}
