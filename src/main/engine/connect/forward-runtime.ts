/**
 * One forward at run time: a listener on `ip:port` for each TCP port (privileged ports on a
 * spare port, relayed by the helper), each connection tunnelled to a ready pod, taken in turn,
 * and the counters and status a user sees. Listeners are open only while a pod is ready, so a
 * caller gets "connection refused" rather than a silent hang when none is.
 */
import { forwardStatus } from './forward-status';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TunnelCounters, TunnelStatus } from '../../../shared/tunnel-status';
import type { PodDialer } from '../kube/pod-dialer';
import type { Duplex } from 'node:stream';
import { describeRoutes, type ForwardPlan, type PlannedEndpoint, type RelayRoute } from './forward-plan';
import { RelayRefusedError, type RelayDestination, type RelayProtocol } from '../relay/relay-protocol';
import { UdpRelayForward } from '../relay/udp-relay-forward';
import { carryToPod, probePod, type PodConnectionAttempt } from './pod-connection';
import { backoffDelay } from '../timing/backoff';

const socketBufferBytes = 1024 * 1024;

export interface Relay {
  ip: string;
  port: number;
  targetPort: number;
  /** TCP when left out. */
  protocol?: 'udp';
}

interface PortListener {
  port: number;
  name: string;
  server: Server | undefined;
  /** The port actually bound: `port`, or a spare one behind a privileged relay. */
  boundPort: number | undefined;
  bindError: string | undefined;
  /** Binds that failed in a row because the port was taken; paces the retries. */
  busyAttempts: number;
  retryTimer: NodeJS.Timeout | undefined;
}

/** A taken port is tried again, 1 s after the first failure, doubling to at most 30 s. */
const busyRetryMs = (attempt: number): number => backoffDelay(attempt, { minMs: 1_000, maxMs: 30_000 });

/** The namespace's egress relay, as a forward uses it. */
export interface RelayOpener {
  open(namespace: string, protocol: RelayProtocol, destination: RelayDestination): Promise<Duplex>;
  podName(namespace: string): string | undefined;
}

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

/**
 * Why a relayed connection failed: the relay's own answer means the cluster cannot reach the
 * target (the fix is there); anything else is the relay itself (its pod, the port-forward).
 */
function describeRelayFailure(
  destination: RelayDestination,
  protocol: RelayProtocol,
  error: unknown,
): string {
  const target = `${destination.host}:${String(destination.port)}/${protocol}`;
  const said = error instanceof Error ? error.message : String(error);
  return error instanceof RelayRefusedError
    ? `the cluster cannot reach ${target} (${said}); check that it answers from a pod in that namespace`
    : `${target}: ${said}`;
}

export class ForwardRuntime {
  private plan: ForwardPlan;
  private readonly listeners = new Map<number, PortListener>();
  private readonly sockets = new Set<Socket>();
  /** UDP relay forwards by `port|destination`. */
  private readonly datagramPorts = new Map<string, UdpRelayForward>();
  /** The last relayed connection failed (cleared by the next one that goes through). */
  private relayFailing = false;
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
    const ip = this.options.ip;
    return [
      ...[...this.listeners.values()]
        .filter((l) => l.port < 1024 && l.boundPort !== undefined && l.boundPort !== l.port)
        .map((l) => ({ ip, port: l.port, targetPort: l.boundPort ?? 0 })),
      ...[...this.datagramPorts.values()].flatMap((forward): Relay[] => {
        const port = forward.port;
        const bound = forward.boundPort;
        return port < 1024 && bound !== undefined && bound !== port
          ? [{ ip, port, targetPort: bound, protocol: 'udp' }]
          : [];
      }),
    ];
  }

  /** Takes a new plan: opens and closes listeners to match, keeps live connections. */
  apply(plan: ForwardPlan): void {
    this.plan = plan;
    const ready = !plan.skipReason && plan.endpoints.some((e) => e.ready);
    const relayed = plan.skipReason || !this.options.relay ? [] : plan.relayRoutes;
    const wanted = new Map([
      ...(ready ? plan.tcpPorts.map((p) => [p.port, p] as const) : []),
      ...relayed
        .filter((r) => r.protocol === 'tcp')
        .map((r) => [r.port, { port: r.port, name: r.name }] as const),
    ]);
    this.applyDatagramRoutes(relayed.filter((r) => r.protocol === 'udp'));
    for (const [port, listener] of this.listeners) {
      if (!wanted.has(port)) {
        clearTimeout(listener.retryTimer);
        listener.server?.close();
        this.listeners.delete(port);
      }
    }
    for (const [port, tcpPort] of wanted) {
      const existing = this.listeners.get(port);
      if (existing) {
        existing.name = tcpPort.name;
        continue;
      }
      this.listen({
        port,
        name: tcpPort.name,
        server: undefined,
        boundPort: undefined,
        bindError: undefined,
        busyAttempts: 0,
        retryTimer: undefined,
      });
    }
    this.options.onChange();
  }

  private applyDatagramRoutes(routes: readonly RelayRoute[]): void {
    const relay = this.options.relay;
    const wanted = new Map<string, { route: RelayRoute; destination: RelayDestination }>(
      routes.flatMap((route) => {
        const destination = route.destinations[0];
        return destination
          ? [
              [
                `${String(route.port)}|${destination.host}:${String(destination.port)}`,
                { route, destination },
              ] as const,
            ]
          : [];
      }),
    );
    for (const [key, forward] of this.datagramPorts) {
      if (wanted.has(key)) continue;
      forward.close();
      this.datagramPorts.delete(key);
    }
    if (!relay) return;
    for (const [key, { route, destination }] of wanted) {
      if (this.datagramPorts.has(key)) continue;
      const privileged = route.port < 1024 && !this.options.canBindPrivileged;
      this.datagramPorts.set(
        key,
        new UdpRelayForward({
          ip: this.options.ip,
          port: route.port,
          listenPort: privileged ? 0 : route.port,
          unavailable:
            privileged && !this.options.relaysAvailable
              ? `port ${String(route.port)}/udp needs the privileged helper, which is not running`
              : undefined,
          destination,
          open: () => relay.open(this.plan.namespace, 'udp', destination),
          counters: this.counters,
          onProblem: (error) =>
            this.relayOutcome(error === null ? null : describeRelayFailure(destination, 'udp', error)),
          onChange: this.options.onChange,
        }),
      );
    }
  }

  /** A relayed connection went through (null), or failed, with why in words a user can act on. */
  private relayOutcome(problem: string | null): void {
    if (problem === null) {
      this.lastEndpoint = this.options.relay?.podName(this.plan.namespace) ?? this.lastEndpoint;
      if (this.relayFailing) this.counters.reconnects++;
      this.relayFailing = false;
    } else {
      this.counters.failures++;
      this.relayFailing = true;
      this.lastError = problem;
    }
    this.options.onChange();
  }

  /** Carries one connection through the egress relay to the route's next destination. */
  private carryThroughRelay(socket: Socket, route: RelayRoute, relay: RelayOpener): void {
    const destination = route.destinations[this.next++ % Math.max(1, route.destinations.length)];
    if (!destination) {
      socket.destroy();
      return;
    }
    relay.open(this.plan.namespace, 'tcp', destination).then(
      (stream) => {
        if (socket.destroyed) {
          stream.destroy();
          return;
        }
        this.relayOutcome(null);
        stream.on('data', (chunk: Buffer) => (this.counters.bytesIn += chunk.length));
        socket.on('data', (chunk: Buffer) => (this.counters.bytesOut += chunk.length));
        // A reset on either side is a reset on the other, so a cut answer never looks complete.
        stream.on('error', () => {
          if (!socket.destroyed) socket.resetAndDestroy();
        });
        socket.on('error', () => stream.destroy());
        stream.once('close', () => socket.end());
        socket.once('close', () => stream.destroy());
        socket.pipe(stream);
        stream.pipe(socket);
        stream.resume();
        socket.resume();
      },
      (error: unknown) => {
        socket.destroy();
        this.relayOutcome(describeRelayFailure(destination, 'tcp', error));
      },
    );
  }

  private listen(listener: PortListener): void {
    this.listeners.set(listener.port, listener);
    const privileged = listener.port < 1024 && !this.options.canBindPrivileged;
    if (privileged && !this.options.relaysAvailable) {
      listener.bindError = `port ${listener.port} needs the privileged helper, which is not running`;
      return;
    }
    // Large socket buffers keep 64 KiB tunnel frames flowing; noDelay keeps small requests prompt.
    // allowHalfOpen: a caller that shuts down its sending side (`nc -N`, an HTTP/1.0 client)
    // still gets the answer, which Node would otherwise cut by ending our side at once.
    const server = createServer(
      { highWaterMark: socketBufferBytes, noDelay: true, pauseOnConnect: true, allowHalfOpen: true },
      (socket) => this.onConnection(socket, listener),
    );
    listener.server = server;
    server.on('error', (error: NodeJS.ErrnoException) => {
      listener.server = undefined;
      const { ip } = this.options;
      const port = listener.port;
      if (error.code === 'EADDRINUSE') {
        listener.bindError = `${ip}:${String(port)} is in use by another program, often one listening on all addresses (0.0.0.0:${String(port)}); bind that program to 127.0.0.1 or stop it, and this forward starts by itself`;
        // The port frees when that program stops: take it then, without a restart.
        listener.retryTimer = setTimeout(() => {
          if (!this.closed && this.listeners.get(port) === listener) this.listen(listener);
        }, busyRetryMs(listener.busyAttempts++));
        listener.retryTimer.unref();
      } else {
        listener.bindError = `cannot listen on ${ip}:${String(port)}: ${error.code ?? error.message}`;
      }
      this.options.onChange();
    });
    server.listen(privileged ? 0 : listener.port, this.options.ip, () => {
      listener.boundPort = (server.address() as AddressInfo).port;
      listener.bindError = undefined;
      listener.busyAttempts = 0;
      this.options.onChange();
    });
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

  private onConnection(socket: Socket, listener: PortListener): void {
    const route = this.plan.relayRoutes.find((r) => r.protocol === 'tcp' && r.port === listener.port);
    if (route && this.options.relay) {
      this.track(socket);
      this.carryThroughRelay(socket, route, this.options.relay);
      return;
    }
    const candidates = this.plan.endpoints.filter((e) => e.ready && e.ports[listener.name] !== undefined);
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
      attempts: ordered.map((endpoint) => this.attemptFor(endpoint, listener.name)),
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
          this.scheduleProbe(listener.name);
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
    const bindErrors = [
      ...[...this.listeners.values()].flatMap((l) => (l.bindError ? [l.bindError] : [])),
      ...[...this.datagramPorts.values()].flatMap((u) => (u.bindError ? [u.bindError] : [])),
    ];
    const relayOnly = plan.endpoints.length === 0 && plan.relayRoutes.length > 0;
    const slowReaderNote = this.readSessionHealth();
    const relayNote =
      plan.relayRoutes.length > 0
        ? `through the egress relay${this.relayPodNote()}: ${describeRoutes(plan.relayRoutes)}`
        : '';
    const { status, reason } = forwardStatus({
      skipReason: plan.skipReason,
      endpoints: plan.endpoints.length,
      ready: readyCount,
      relayOnly,
      bindErrors,
      failing: this.failingSince !== undefined,
      relayFailing: this.relayFailing,
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

  private relayPodNote(): string {
    const pod = this.options.relay?.podName(this.plan.namespace);
    return pod ? ` (pod ${pod})` : ', made on the first connection';
  }

  /** Whether every listener that should be open is. */
  isSettled(): boolean {
    return (
      [...this.listeners.values()].every((l) => l.bindError !== undefined || l.boundPort !== undefined) &&
      [...this.datagramPorts.values()].every((u) => u.bindError !== undefined || u.bound)
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    for (const listener of this.listeners.values()) clearTimeout(listener.retryTimer);
    for (const socket of this.sockets) socket.destroy();
    for (const forward of this.datagramPorts.values()) forward.close();
    this.datagramPorts.clear();
    await Promise.all(
      [...this.listeners.values()].map(
        (l) => new Promise<void>((resolve) => (l.server ? l.server.close(() => resolve()) : resolve())),
      ),
    );
    this.listeners.clear();
  }
}
