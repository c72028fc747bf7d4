/**
 * Port-forward over the WebSocket channel protocol (`v4.channel.k8s.io`), as client-node and the
 * Python client speak it: port i uses channel 2i for data and 2i+1 for errors, and each channel's
 * first message is the port, little-endian, in a message of its own.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { asError, type Dial } from './spdy-portforward';

export function serveChannelPortForward(
  ws: WebSocket,
  ports: number[],
  dial: Dial,
  describeFailure: (port: number, error: Error) => string,
): void {
  const sockets: (Socket | undefined)[] = ports.map(() => undefined);
  const pending: Buffer[][] = ports.map(() => []);
  let open = ports.length;
  const sendOn = (channel: number, payload: Buffer): void => {
    if (ws.readyState === ws.OPEN)
      ws.send(Buffer.concat([Buffer.from([channel]), payload]), { binary: true });
  };
  const portClosed = (): void => {
    open--;
    if (open <= 0) ws.close(1000);
  };

  ports.forEach((port, index) => {
    const prefix = Buffer.from([port & 0xff, port >> 8]);
    sendOn(index * 2, prefix);
    sendOn(index * 2 + 1, prefix);
    dial(port).then(
      (socket) => {
        if (ws.readyState !== ws.OPEN) {
          socket.destroy();
          return;
        }
        sockets[index] = socket;
        for (const chunk of pending[index] ?? []) socket.write(chunk);
        pending[index] = [];
        socket.on('data', (chunk: Buffer) => sendOn(index * 2, chunk));
        socket.on('error', () => socket.destroy());
        socket.on('close', portClosed);
      },
      (error: unknown) => {
        sendOn(index * 2 + 1, Buffer.from(describeFailure(port, asError(error))));
        portClosed();
      },
    );
  });

  ws.on('message', (data: Buffer) => {
    const channel = data[0];
    if (channel === undefined || data.length < 2 || channel % 2 !== 0) return;
    const index = channel / 2;
    const payload = data.subarray(1);
    const socket = sockets[index];
    if (socket) socket.write(payload);
    else pending[index]?.push(Buffer.from(payload));
  });
  ws.on('close', () => {
    for (const socket of sockets) socket?.destroy();
  });
  ws.on('error', () => ws.terminate());
}
