/**
 * A forward's TCP listeners on `ip:port`: opened and closed to match what the forward serves, a
 * privileged port bound on a spare port for the helper to relay, and a port another program holds
 * taken by itself once that program lets go.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { backoffDelay } from '../timing/backoff';
import { bindingFor, helperRelayFor, type PrivilegedAccess, type Relay } from './privileged-ports';

const socketBufferBytes = 1024 * 1024;

interface PortListener {
  port: number;
  /** The service port's name, which says where a connection to `port` goes. */
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

export interface PortListenersOptions extends PrivilegedAccess {
  ip: string;
  /** A caller connected to `port`, which serves the service port named `name`; paused. */
  onConnection: (socket: Socket, port: number, name: string) => void;
  onChange: () => void;
}

export class PortListeners {
  private readonly listeners = new Map<number, PortListener>();
  private closed = false;

  constructor(private readonly options: PortListenersOptions) {}

  /** Listens on exactly the ports of `wanted` (port to service port name); open ones stay open. */
  match(wanted: ReadonlyMap<number, string>): void {
    for (const [port, listener] of this.listeners) {
      if (!wanted.has(port)) {
        clearTimeout(listener.retryTimer);
        listener.server?.close();
        this.listeners.delete(port);
      }
    }
    for (const [port, name] of wanted) {
      const existing = this.listeners.get(port);
      if (existing) {
        existing.name = name;
        continue;
      }
      this.listen({
        port,
        name,
        server: undefined,
        boundPort: undefined,
        bindError: undefined,
        busyAttempts: 0,
        retryTimer: undefined,
      });
    }
  }

  /** The service port name `port` serves now (a plan may rename it while it listens). */
  nameOf(port: number): string | undefined {
    return this.listeners.get(port)?.name;
  }

  /** Relays the helper must hold for the privileged ports bound on spare ones. */
  privilegedRelays(): Relay[] {
    return [...this.listeners.values()].flatMap((l) =>
      helperRelayFor(this.options.ip, l.port, l.boundPort, 'tcp'),
    );
  }

  /** Why ports that should listen do not, in words a user can act on. */
  bindErrors(): string[] {
    return [...this.listeners.values()].flatMap((l) => (l.bindError ? [l.bindError] : []));
  }

  /** Whether every port has listened or failed to. */
  isSettled(): boolean {
    return [...this.listeners.values()].every((l) => l.bindError !== undefined || l.boundPort !== undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const listener of this.listeners.values()) clearTimeout(listener.retryTimer);
    await Promise.all(
      [...this.listeners.values()].map(
        (l) => new Promise<void>((resolve) => (l.server ? l.server.close(() => resolve()) : resolve())),
      ),
    );
    this.listeners.clear();
  }

  private listen(listener: PortListener): void {
    this.listeners.set(listener.port, listener);
    const binding = bindingFor(listener.port, 'tcp', this.options);
    if ('unavailable' in binding) {
      listener.bindError = binding.unavailable;
      return;
    }
    // Large socket buffers keep 64 KiB tunnel frames flowing; noDelay keeps small requests prompt.
    // allowHalfOpen: a caller that shuts down its sending side (`nc -N`, an HTTP/1.0 client)
    // still gets the answer, which Node would otherwise cut by ending our side at once.
    const server = createServer(
      { highWaterMark: socketBufferBytes, noDelay: true, pauseOnConnect: true, allowHalfOpen: true },
      (socket) => this.options.onConnection(socket, listener.port, listener.name),
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
    server.listen(binding.listenPort, this.options.ip, () => {
      listener.boundPort = (server.address() as AddressInfo).port;
      listener.bindError = undefined;
      listener.busyAttempts = 0;
      this.options.onChange();
    });
  }
}
