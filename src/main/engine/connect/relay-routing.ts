/**
 * A forward's routes through its namespace's egress relay (what port-forward cannot reach:
 * ExternalName, selector-less and UDP services): TCP connections carried to the route's next
 * destination, a UDP port per route, and whether the relay is failing, in words a user can act on.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelCounters } from '../../../shared/tunnel-status';
import { RelayRefusedError, type RelayDestination, type RelayProtocol } from '../relay/relay-protocol';
import { UdpRelayForward } from '../relay/udp-relay-forward';
import type { RelayRoute } from './forward-plan';
import { bindingFor, helperRelayFor, type PrivilegedAccess, type Relay } from './privileged-ports';

/** The namespace's egress relay, as a forward uses it. */
export interface RelayOpener {
  open(namespace: string, protocol: RelayProtocol, destination: RelayDestination): Promise<Duplex>;
  podName(namespace: string): string | undefined;
}

export interface RelayRoutingOptions extends PrivilegedAccess {
  ip: string;
  namespace: () => string;
  relay: RelayOpener;
  /** The forward's counters, which relayed traffic adds to. */
  counters: Required<TunnelCounters>;
  /** A relayed connection went through `pod` (the relay's, when known). */
  onCarried: (pod: string | undefined) => void;
  /** A relayed connection failed, with why. */
  onFailed: (problem: string) => void;
  onChange: () => void;
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

export class RelayRouting {
  /** UDP relay forwards by `port|destination`. */
  private readonly datagramPorts = new Map<string, UdpRelayForward>();
  /** The last relayed connection failed (cleared by the next one that goes through). */
  private failingNow = false;
  private next = 0;

  constructor(private readonly options: RelayRoutingOptions) {}

  get failing(): boolean {
    return this.failingNow;
  }

  /** A note for the forward's reason: which relay pod carries it, or that one is made on demand. */
  podNote(): string {
    const pod = this.options.relay.podName(this.options.namespace());
    return pod ? ` (pod ${pod})` : ', made on the first connection';
  }

  /** Opens a UDP port for each route (to its first destination), closes the others. */
  matchDatagramRoutes(routes: readonly RelayRoute[]): void {
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
    for (const [key, { route, destination }] of wanted) {
      if (this.datagramPorts.has(key)) continue;
      this.datagramPorts.set(key, this.datagramForward(route, destination));
    }
  }

  private datagramForward(route: RelayRoute, destination: RelayDestination): UdpRelayForward {
    const { options } = this;
    return new UdpRelayForward({
      ip: options.ip,
      port: route.port,
      binding: bindingFor(route.port, 'udp', options),
      destination,
      open: () => options.relay.open(options.namespace(), 'udp', destination),
      counters: options.counters,
      onProblem: (error) =>
        this.outcome(error === null ? null : describeRelayFailure(destination, 'udp', error)),
      onChange: options.onChange,
    });
  }

  /** Carries one connection through the egress relay to the route's next destination. */
  carry(socket: Socket, route: RelayRoute): void {
    const { counters } = this.options;
    const destination = route.destinations[this.next++ % Math.max(1, route.destinations.length)];
    if (!destination) {
      socket.destroy();
      return;
    }
    this.options.relay.open(this.options.namespace(), 'tcp', destination).then(
      (stream) => {
        if (socket.destroyed) {
          stream.destroy();
          return;
        }
        this.outcome(null);
        stream.on('data', (chunk: Buffer) => (counters.bytesIn += chunk.length));
        socket.on('data', (chunk: Buffer) => (counters.bytesOut += chunk.length));
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
        this.outcome(describeRelayFailure(destination, 'tcp', error));
      },
    );
  }

  /** A relayed connection or datagram went through (null), or failed, with why. */
  private outcome(problem: string | null): void {
    const { counters } = this.options;
    if (problem === null) {
      if (this.failingNow) counters.reconnects++;
      this.failingNow = false;
      this.options.onCarried(this.options.relay.podName(this.options.namespace()));
    } else {
      counters.failures++;
      this.failingNow = true;
      this.options.onFailed(problem);
    }
    this.options.onChange();
  }

  /** Relays the helper must hold for privileged UDP ports bound on spare ones. */
  privilegedRelays(): Relay[] {
    return [...this.datagramPorts.values()].flatMap((forward) =>
      helperRelayFor(this.options.ip, forward.port, forward.boundPort, 'udp'),
    );
  }

  bindErrors(): string[] {
    return [...this.datagramPorts.values()].flatMap((u) => (u.bindError ? [u.bindError] : []));
  }

  isSettled(): boolean {
    return [...this.datagramPorts.values()].every((u) => u.bindError !== undefined || u.bound);
  }

  close(): void {
    for (const forward of this.datagramPorts.values()) forward.close();
    this.datagramPorts.clear();
  }
}
