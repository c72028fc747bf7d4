/**
 * A privileged UDP port: datagrams to `ip:port` go to the engine's socket on `ip:targetPort`
 * from a socket of their client's own, so the engine tells clients apart, and each reply goes
 * back to the client it is for from `ip:port`, as the client expects.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Relay } from './relay';

const idleClientMs = 120_000;
/** Each client costs a socket: the engine's own limit on clients is far above real use. */
const maxClients = 1_024;

export function openDatagramRelay(relay: Relay): Promise<() => Promise<void>> {
  const listener = createSocket('udp4');
  const clients = new Map<string, { socket: Socket; lastSeen: number }>();
  const forget = (key: string): void => {
    clients.get(key)?.socket.close();
    clients.delete(key);
  };
  listener.on('message', (datagram, from) => {
    const key = `${from.address}:${String(from.port)}`;
    let client = clients.get(key);
    if (!client) {
      if (clients.size >= maxClients) return;
      const socket = createSocket('udp4');
      socket.on('error', () => forget(key));
      socket.on('message', (reply, sender) => {
        if (sender.address !== relay.ip || sender.port !== relay.targetPort) return;
        const current = clients.get(key);
        if (current) current.lastSeen = Date.now();
        listener.send(reply, from.port, from.address);
      });
      socket.bind(0, relay.ip);
      client = { socket, lastSeen: Date.now() };
      clients.set(key, client);
    }
    client.lastSeen = Date.now();
    client.socket.send(datagram, relay.targetPort, relay.ip);
  });
  const sweeper = setInterval(() => {
    for (const [key, client] of clients) if (Date.now() - client.lastSeen > idleClientMs) forget(key);
  }, idleClientMs / 4);
  sweeper.unref();
  const close = async (): Promise<void> => {
    clearInterval(sweeper);
    for (const key of [...clients.keys()]) forget(key);
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  };
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.bind(relay.port, relay.ip, () => {
      listener.off('error', reject);
      resolve(close);
    });
  });
}
