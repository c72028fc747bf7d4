/**
 * Service routing, as kube-proxy does it (UDP ports in `udp-service-port.ts`): each TCP port of a Service listens on `clusterIP:port`
 * and spreads connections round-robin over the ready endpoints. With no ready endpoint the port is
 * closed, so callers get "connection refused", as kube-proxy's REJECT rule gives them.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { field, type KubeObject, type Service } from '../api/objects';
import { resourceTypeOfKind } from '../api/resources';
import type { ObjectStore, StoreEvent } from '../api/store';
import { UdpServicePort } from './udp-service-port';

const services = resourceTypeOfKind('Service');
const slices = resourceTypeOfKind('EndpointSlice');

interface PortRoute {
  key: string;
  server: Server | undefined;
  backends: { ip: string; port: number }[];
  next: number;
  sockets: Set<Socket>;
  /** Set when binding failed (for example port 80 without root), so it is not retried every change. */
  failed: boolean;
  /** A listener being closed; a new one on the same address must wait for it. */
  closing: Promise<void> | undefined;
  opening: boolean;
}

export class KubeProxy {
  private readonly routes = new Map<string, PortRoute>();
  private readonly udpPorts = new Map<string, UdpServicePort>();
  private scheduled = false;
  private stopped = false;
  private readonly onChange = (event: StoreEvent): void => {
    if (event.resource.kind !== 'Service' && event.resource.kind !== 'EndpointSlice') return;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.sync();
    });
  };

  constructor(
    private readonly store: ObjectStore,
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    this.store.on('change', this.onChange);
    this.sync();
  }

  /** Whether every service port with ready endpoints is listening (or failed to bind, and said so). */
  isSettled(): boolean {
    if (this.scheduled) return false;
    for (const [key, want] of this.desired()) {
      const route = this.routes.get(key);
      if (want.backends.length > 0 && !route?.failed && !route?.server?.listening) return false;
      if (route?.opening) return false;
    }
    for (const [key, want] of this.desired('UDP')) {
      const port = this.udpPorts.get(key);
      if (want.backends.length > 0 && !port?.failed && !port?.listening) return false;
    }
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.store.off('change', this.onChange);
    await Promise.all([...this.routes.values()].map((route) => this.close(route)));
    this.routes.clear();
    for (const port of this.udpPorts.values()) port.close();
    this.udpPorts.clear();
  }

  private desired(
    protocol: 'TCP' | 'UDP' = 'TCP',
  ): Map<string, { ip: string; port: number; backends: { ip: string; port: number }[] }> {
    const result = new Map<string, { ip: string; port: number; backends: { ip: string; port: number }[] }>();
    const allSlices = this.store.list(slices);
    for (const service of this.store.list(services) as Service[]) {
      const ip = service.spec.clusterIP;
      if (!ip || ip === 'None' || service.spec.type === 'ExternalName') continue;
      const own = allSlices.filter(
        (s) =>
          s.metadata.namespace === service.metadata.namespace &&
          s.metadata.labels?.['kubernetes.io/service-name'] === service.metadata.name,
      );
      for (const port of service.spec.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== protocol) continue;
        const backends = own.flatMap((slice) => backendsFor(slice, port.name ?? ''));
        result.set(`${ip}:${port.port}`, { ip, port: port.port, backends });
      }
    }
    return result;
  }

  private sync(): void {
    if (this.stopped) return;
    this.syncUdp();
    const desired = this.desired();
    for (const [key, route] of this.routes) {
      if (!desired.has(key)) {
        void this.close(route);
        this.routes.delete(key);
      }
    }
    for (const [key, want] of desired) {
      let route = this.routes.get(key);
      if (!route) {
        route = {
          key,
          server: undefined,
          backends: [],
          next: 0,
          sockets: new Set(),
          failed: false,
          closing: undefined,
          opening: false,
        };
        this.routes.set(key, route);
      }
      route.backends = want.backends;
      if (want.backends.length > 0 && !route.server && !route.failed && !route.opening)
        void this.open(route, want.ip, want.port);
      if (want.backends.length === 0 && route.server) void this.closeListener(route);
    }
  }

  /** A UDP port listens while its service exists; datagrams with no endpoint are dropped. */
  private syncUdp(): void {
    const desired = this.desired('UDP');
    for (const [key, port] of this.udpPorts) {
      if (desired.has(key)) continue;
      port.close();
      this.udpPorts.delete(key);
    }
    for (const [key, want] of desired) {
      let port = this.udpPorts.get(key);
      if (!port) {
        port = new UdpServicePort(want.ip, want.port, this.log);
        this.udpPorts.set(key, port);
      }
      port.backends = want.backends;
    }
  }

  private async open(route: PortRoute, ip: string, port: number): Promise<void> {
    route.opening = true;
    await route.closing;
    route.opening = false;
    if (this.stopped || route.server || route.backends.length === 0 || this.routes.get(route.key) !== route)
      return;
    // Go, and the kernel's kube-proxy path, send small writes at once (TCP_NODELAY); so do we.
    // Half-open, as the kernel's NAT path is: a FIN travels on and the other direction goes on.
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) =>
      this.forward(route, client),
    );
    route.server = server;
    server.on('error', (error: NodeJS.ErrnoException) => {
      route.failed = true;
      route.server = undefined;
      this.log(
        `kube-proxy cannot listen on ${ip}:${port} (${error.code ?? error.message}); calls to this service port will fail`,
      );
    });
    server.listen(port, ip);
  }

  private forward(route: PortRoute, client: Socket): void {
    const backend = route.backends[route.next++ % Math.max(1, route.backends.length)];
    if (!backend) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: backend.ip, port: backend.port, noDelay: true, allowHalfOpen: true });
    route.sockets.add(client);
    route.sockets.add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      route.sockets.delete(client);
      route.sockets.delete(upstream);
    };
    // A reset on one side is a reset on the other, as the kernel's NAT passes it on.
    client.on('error', () => {
      if (!upstream.destroyed) upstream.resetAndDestroy();
      done();
    });
    upstream.on('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
      done();
    });
    client.on('close', done);
    upstream.on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private closeListener(route: PortRoute): Promise<void> {
    const server = route.server;
    route.server = undefined;
    if (!server) return route.closing ?? Promise.resolve();
    const closing = new Promise<void>((resolve) => server.close(() => resolve()));
    route.closing = closing;
    return closing;
  }

  private async close(route: PortRoute): Promise<void> {
    for (const socket of route.sockets) socket.destroy();
    await this.closeListener(route);
  }
}

function backendsFor(slice: KubeObject, portName: string): { ip: string; port: number }[] {
  const ports = (field(slice, 'ports') ?? []) as { name?: string; port: number }[];
  const port = ports.find((p) => (p.name ?? '') === portName)?.port;
  if (port === undefined) return [];
  const endpoints = (field(slice, 'endpoints') ?? []) as {
    addresses: string[];
    conditions?: { ready?: boolean };
  }[];
  return endpoints.filter((e) => e.conditions?.ready).flatMap((e) => e.addresses.map((ip) => ({ ip, port })));
}
