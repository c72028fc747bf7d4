/**
 * Stand-ins for hosts outside the cluster (a managed database, a SaaS API), which only the
 * cluster's pods can resolve: each is a test-image program on a loopback address of this
 * cluster's slot, known by name only to the pods' DNS view. Local code cannot reach them by
 * name, as it cannot reach a private database from a laptop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { IpPool } from './ip-slots';

export interface OutsideHostSpec {
  /** The DNS name pods resolve it by, e.g. `billing.example.com`. */
  host: string;
  /** A program under `images/`. */
  program: 'http-server.mjs' | 'echo-server.mjs';
  tcpPorts: number[];
  udpPorts?: number[];
  /** What the echo server says first on each connection, so a caller knows who answered. */
  greeting?: string;
}

export interface OutsideHost extends OutsideHostSpec {
  ip: string;
}

export class OutsideHosts {
  private readonly processes: ChildProcess[] = [];
  readonly hosts: OutsideHost[] = [];

  constructor(private readonly ips: IpPool) {}

  /**
   * Starts every stand-in and resolves once each TCP port accepts connections; if one never
   * does, stops them all before rejecting.
   */
  async start(specs: readonly OutsideHostSpec[]): Promise<void> {
    for (const spec of specs) {
      const ip = this.ips.allocate();
      const child = spawn(
        process.execPath,
        [fileURLToPath(new URL(`../images/${spec.program}`, import.meta.url))],
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            LOCALIZER_KUBELET_PID: String(process.pid),
            POD_NAME: spec.host,
            POD_NAMESPACE: '',
            POD_IP: ip,
            LOCALIZER_CONTAINER_PORTS: spec.tcpPorts.join(','),
            LOCALIZER_CONTAINER_UDP_PORTS: (spec.udpPorts ?? []).join(','),
            ...(spec.greeting ? { LOCALIZER_GREETING: spec.greeting } : {}),
          },
          stdio: 'ignore',
        },
      );
      this.processes.push(child);
      this.hosts.push({ ...spec, ip });
    }
    try {
      await Promise.all(this.hosts.flatMap((h) => h.tcpPorts.map((port) => acceptsConnections(h.ip, port))));
    } catch (error) {
      // A start that fails leaves nothing: its processes and addresses go with it.
      this.stop();
      throw error;
    }
  }

  ipOf(host: string): string | undefined {
    return this.hosts.find((h) => h.host === host)?.ip;
  }

  stop(): void {
    for (const child of this.processes) child.kill('SIGKILL');
    for (const host of this.hosts) this.ips.release(host.ip);
  }
}

async function acceptsConnections(ip: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: ip, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`the outside host stand-in on ${ip}:${String(port)} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
