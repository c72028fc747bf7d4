/**
 * Privileged ports without a privileged app: for each `ip:port` below 1024 the helper listens and
 * relays every connection (or, for UDP, every datagram) to the engine's own listener on
 * `ip:targetPort`. Both ends stay on the same loopback address inside the allowed range.
 */
import type { Relay } from './relay';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { openDatagramRelay } from './datagram-relay';

export type { Relay } from './relay';

function keyOf(relay: Relay): string {
  return `${relay.ip}:${relay.port}/${relay.protocol ?? 'tcp'}`;
}

interface OpenRelay {
  relay: Relay;
  close: () => Promise<void>;
}

export class RelaySet {
  private readonly active = new Map<string, OpenRelay>();

  /** Makes the open relays exactly `wanted`. Rejects, naming the address, if one cannot listen. */
  async apply(wanted: readonly Relay[]): Promise<void> {
    const wantedKeys = new Map(wanted.map((relay) => [keyOf(relay), relay]));
    for (const [key, entry] of this.active) {
      const next = wantedKeys.get(key);
      if (!next || next.targetPort !== entry.relay.targetPort) await this.close(key);
    }
    const failures: string[] = [];
    for (const [key, relay] of wantedKeys) {
      if (this.active.has(key)) continue;
      try {
        await this.open(relay);
      } catch (error) {
        failures.push(`${key}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`could not listen on ${failures.join(', ')}`);
  }

  get size(): number {
    return this.active.size;
  }

  private async open(relay: Relay): Promise<void> {
    if (relay.protocol === 'udp') {
      this.active.set(keyOf(relay), { relay, close: await openDatagramRelay(relay) });
      return;
    }
    const sockets = new Set<Socket>();
    // Half-open both ways: a client that shuts down its sending side (`nc -N`, HTTP/1.0) still
    // gets the answer; the FIN is passed on, and each side closes once both directions are done.
    const server = createServer({ allowHalfOpen: true }, (client) => {
      const target = connect({ host: relay.ip, port: relay.targetPort, allowHalfOpen: true });
      sockets.add(client);
      sockets.add(target);
      const done = (): void => {
        client.destroy();
        target.destroy();
        sockets.delete(client);
        sockets.delete(target);
      };
      // A reset on one side is a reset on the other, so a cut answer never looks complete.
      client.on('error', () => {
        if (!target.destroyed) target.resetAndDestroy();
        done();
      });
      target.on('error', () => {
        if (!client.destroyed) client.resetAndDestroy();
        done();
      });
      client.on('close', done);
      target.on('close', done);
      client.pipe(target);
      target.pipe(client);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(relay.port, relay.ip, () => {
        server.off('error', reject);
        this.active.set(keyOf(relay), { relay, close: () => closeServer(server, sockets) });
        resolve();
      });
    });
  }

  private async close(key: string): Promise<void> {
    const entry = this.active.get(key);
    if (!entry) return;
    this.active.delete(key);
    await entry.close();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.active.keys()].map((key) => this.close(key)));
  }
}

function closeServer(server: Server, sockets: ReadonlySet<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
