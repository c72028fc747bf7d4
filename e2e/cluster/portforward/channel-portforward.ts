/**
 * Port-forward over the WebSocket channel protocol (`v4.channel.k8s.io`), as client-node and the
 * Python client speak it: port i uses channel 2i for data and 2i+1 for errors, and each channel's
 * first message is the port, little-endian, in a message of its own.
 *
 * The kubelet runs the same containerd copy as for SPDY: when the pod's side ends, the client's
 * direction gets at most 1 s more (it can only end by closing the WebSocket), then the port's
 * forward closes, with the copy's error, if any, on its error channel; the WebSocket closes once
 * every port's forward has.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { asError, copyGraceMs, type Dial, type DescribeFailure } from './spdy-portforward';

export function serveChannelPortForward(
  ws: WebSocket,
  ports: number[],
  dial: Dial,
  describeFailure: DescribeFailure,
): void {
  const sockets: (Socket | undefined)[] = ports.map(() => undefined);
  const pending: Buffer[][] = ports.map(() => []);
  let open = ports.length;
  // One message at a time, the next once the last is written: the API server (Go) writes each
  // WebSocket message with a Write of its own, so no TLS record holds the end of one message
  // and the start of the next. Node would join queued messages into one record, and the Python
  // client, which waits in select() with a whole message decrypted and unread
  // (kubernetes-client/python#2414), would then hang until another byte came.
  const queue: Buffer[] = [];
  let writing = false;
  /** Every port's forward has closed: the WebSocket closes once what is queued is written. */
  let closeWhenWritten = false;
  const writeNext = (): void => {
    const message = queue.shift();
    if (!message || ws.readyState !== ws.OPEN) {
      writing = false;
      if (closeWhenWritten && ws.readyState === ws.OPEN) ws.close(1000);
      return;
    }
    writing = true;
    ws.send(message, { binary: true }, writeNext);
  };
  const sendOn = (channel: number, payload: Buffer): void => {
    if (ws.readyState !== ws.OPEN) return;
    queue.push(Buffer.concat([Buffer.from([channel]), payload]));
    if (!writing) writeNext();
  };
  const portClosed = (): void => {
    open--;
    if (open > 0) return;
    closeWhenWritten = true;
    if (!writing) writeNext();
    // A caller that stopped reading holds the last message unwritten: as ws's own close would,
    // give up on it after 30 s rather than keep the connection forever.
    if (ws.readyState !== ws.OPEN) return;
    const giveUp = setTimeout(() => ws.terminate(), 30_000).unref();
    ws.once('close', () => clearTimeout(giveUp));
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
        let copyError: Error | undefined;
        let grace: NodeJS.Timeout | undefined;
        const podSideEnded = (): void => {
          grace ??= setTimeout(() => {
            if (copyError) sendOn(index * 2 + 1, Buffer.from(describeFailure(port, copyError, 'copy')));
            socket.destroy();
          }, copyGraceMs);
        };
        socket.on('data', (chunk: Buffer) => sendOn(index * 2, chunk));
        socket.on('end', podSideEnded);
        socket.on('error', (error) => {
          copyError ??= error;
          podSideEnded();
        });
        socket.on('close', () => {
          clearTimeout(grace);
          portClosed();
        });
      },
      (error: unknown) => {
        sendOn(index * 2 + 1, Buffer.from(describeFailure(port, asError(error), 'dial')));
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
