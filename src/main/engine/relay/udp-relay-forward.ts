/**
 * One UDP service port on this machine: a socket on `ip:port` whose datagrams travel, framed,
 * over one relay stream to the target, and whose replies go back to the local client they are
 * for. Each client (address and port) has an id of its own, and the relay a UDP socket of its own
 * per id, so many clients share the stream and never see each other's replies.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Duplex } from 'node:stream';
import type { TunnelCounters } from '../../../shared/tunnel-status';
import { DatagramDecoder, encodeDatagram, largestDatagram, type RelayDestination } from './relay-protocol';

/** Opens the relay stream for this port's target. */
export type UdpStreamOpener = () => Promise<Duplex>;

interface LocalClient {
  address: string;
  port: number;
  lastSeen: number;
}

const idleClientMs = 120_000;
const queuedWhileOpening = 512;
const reopenPauseMs = 1_000;

export interface UdpRelayForwardOptions {
  ip: string;
  port: number;
  /**
   * Where to bind: `port`, or 0 for a spare port behind the helper's relay of a privileged one;
   * or why the port cannot be served (privileged, and no helper), instead of binding.
   */
  binding: { listenPort: number } | { unavailable: string };
  destination: RelayDestination;
  open: UdpStreamOpener;
  counters: Required<TunnelCounters>;
  /** A datagram could not be carried (null once one is again). */
  onProblem: (error: unknown) => void;
  onChange: () => void;
}

export class UdpRelayForward {
  private socket: Socket | undefined;
  private readonly ids = new Map<string, number>();
  private readonly clients = new Map<number, LocalClient>();
  private nextId = 1;
  private stream: Duplex | undefined;
  private opening: Promise<void> | undefined;
  private queue: Buffer[] = [];
  private pausedUntil = 0;
  /** Runs only while there are clients: an idle UDP port wakes nothing. */
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  bound = false;
  /** The port actually bound. */
  boundPort: number | undefined;
  bindError: string | undefined;

  get port(): number {
    return this.options.port;
  }

  constructor(private readonly options: UdpRelayForwardOptions) {
    if ('unavailable' in options.binding) this.bindError = options.binding.unavailable;
    else this.bind(options.binding.listenPort);
  }

  private bind(listenPort: number): void {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    this.socket = socket;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.bindError =
        error.code === 'EADDRINUSE'
          ? `${this.options.ip}:${String(this.options.port)}/udp is in use by another program`
          : `cannot listen on ${this.options.ip}:${String(this.options.port)}/udp: ${error.code ?? error.message}`;
      socket.close();
      this.options.onChange();
    });
    socket.on('message', (datagram, from) => this.fromLocal(datagram, from));
    socket.bind(listenPort, this.options.ip, () => {
      this.bound = true;
      this.boundPort = socket.address().port;
      this.options.onChange();
    });
  }

  private clientId(from: RemoteInfo): number {
    const key = `${from.address}:${String(from.port)}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.nextId++;
      if (this.nextId > 0xffffffff) this.nextId = 1;
      this.ids.set(key, id);
      this.options.counters.connections++;
      this.options.counters.activeConnections++;
      if (!this.sweeper) {
        this.sweeper = setInterval(() => this.sweep(), idleClientMs / 4);
        this.sweeper.unref();
      }
    }
    this.clients.set(id, { address: from.address, port: from.port, lastSeen: Date.now() });
    return id;
  }

  private fromLocal(datagram: Buffer, from: RemoteInfo): void {
    if (datagram.length > largestDatagram) return;
    const frame = encodeDatagram(this.clientId(from), datagram);
    this.options.counters.bytesOut += datagram.length;
    if (this.stream) {
      this.stream.write(frame);
      return;
    }
    if (this.queue.length < queuedWhileOpening) this.queue.push(frame);
    if (!this.opening && Date.now() >= this.pausedUntil) this.opening = this.openStream();
  }

  private async openStream(): Promise<void> {
    try {
      const stream = await this.options.open();
      if (this.closed) {
        stream.destroy();
        return;
      }
      this.stream = stream;
      const decoder = new DatagramDecoder((id, datagram) => this.toLocal(id, datagram));
      stream.on('data', (chunk: Buffer) => decoder.push(chunk));
      stream.on('error', () => stream.destroy());
      // The relay ending its side (its pod went) leaves a half-open stream that never closes.
      stream.once('end', () => stream.destroy());
      stream.once('close', () => {
        if (this.stream === stream) this.stream = undefined;
      });
      stream.resume();
      for (const frame of this.queue) stream.write(frame);
      this.options.onProblem(null);
    } catch (error) {
      this.pausedUntil = Date.now() + reopenPauseMs;
      this.options.onProblem(error);
    } finally {
      this.queue = [];
      this.opening = undefined;
    }
  }

  private toLocal(id: number, datagram: Buffer): void {
    const client = this.clients.get(id);
    if (!client || !this.socket) return;
    client.lastSeen = Date.now();
    this.options.counters.bytesIn += datagram.length;
    this.socket.send(datagram, client.port, client.address);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, client] of this.clients) {
      if (now - client.lastSeen < idleClientMs) continue;
      this.clients.delete(id);
      this.ids.delete(`${client.address}:${String(client.port)}`);
      this.options.counters.activeConnections--;
    }
    if (this.clients.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.options.counters.activeConnections -= this.clients.size;
    this.clients.clear();
    this.stream?.destroy();
    if (this.bound) this.socket?.close();
    this.socket = undefined;
  }
}
