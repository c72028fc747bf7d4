/**
 * One UDP port of a Service, as kube-proxy's conntrack handles it: each client (address and port)
 * is pinned to one ready endpoint on its first datagram, and that endpoint's replies go back to
 * that client from the service's address, for as long as the flow is not idle.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

interface Flow {
  upstream: Socket;
  backend: { ip: string; port: number };
  lastSeen: number;
}

const flowIdleMs = 30_000;

export class UdpServicePort {
  private readonly socket: Socket;
  private readonly flows = new Map<string, Flow>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;
  backends: { ip: string; port: number }[] = [];
  failed = false;
  listening = false;

  constructor(ip: string, port: number, log: (message: string) => void) {
    this.socket = createSocket('udp4');
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.failed = true;
      log(`kube-proxy cannot listen on ${ip}:${String(port)}/udp (${error.code ?? error.message})`);
    });
    this.socket.on('message', (datagram, from) => this.forward(datagram, from));
    this.socket.bind(port, ip, () => (this.listening = true));
    this.sweeper = setInterval(() => this.sweep(), flowIdleMs / 3);
    this.sweeper.unref();
  }

  private forward(datagram: Buffer, from: RemoteInfo): void {
    const key = `${from.address}:${String(from.port)}`;
    let flow = this.flows.get(key);
    if (!flow) {
      const backend = this.backends[this.next++ % Math.max(1, this.backends.length)];
      if (!backend) return;
      const upstream = createSocket('udp4');
      upstream.on('error', () => upstream.close());
      upstream.on('message', (reply, sender) => {
        if (sender.address !== backend.ip || sender.port !== backend.port) return;
        const current = this.flows.get(key);
        if (current) current.lastSeen = Date.now();
        this.socket.send(reply, from.port, from.address);
      });
      flow = { upstream, backend, lastSeen: Date.now() };
      this.flows.set(key, flow);
    }
    flow.lastSeen = Date.now();
    flow.upstream.send(datagram, flow.backend.port, flow.backend.ip);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, flow] of this.flows) {
      if (now - flow.lastSeen < flowIdleMs) continue;
      flow.upstream.close();
      this.flows.delete(key);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const flow of this.flows.values()) flow.upstream.close();
    this.flows.clear();
    if (this.listening) this.socket.close();
  }
}
