/** The connection a port-forward session runs over: a raw socket, or a WebSocket's binary messages. */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

export interface ByteChannel {
  /** Returns false when the peer is slow; `onDrain` fires when it has caught up. */
  write(bytes: Buffer): boolean;
  onData(listener: (bytes: Buffer) => void): void;
  onDrain(listener: () => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/** Past this many queued bytes the sender is told to wait (ws buffers sends itself). */
const highWaterMark = 4 * 1024 * 1024;

/**
 * Both channels queue up to `highWaterMark` before telling the sender to wait, so SPDY on a raw
 * socket and SPDY in a WebSocket cost the server the same. (A TLS socket's own 16 KiB mark paused
 * the pod's socket after every 64 KiB frame, a cost of this server, not of the protocol.)
 */
export function socketChannel(socket: Duplex): ByteChannel {
  return {
    write: (bytes) => {
      socket.write(bytes);
      return socket.writableLength < highWaterMark;
    },
    onData: (listener) => socket.on('data', listener),
    onDrain: (listener) => socket.on('drain', listener),
    onClose: (listener) => {
      socket.on('close', listener);
      socket.on('error', () => socket.destroy());
    },
    close: () => socket.destroy(),
  };
}

export function webSocketChannel(ws: WebSocket): ByteChannel {
  const drainListeners: (() => void)[] = [];
  const afterSend = (): void => {
    if (ws.bufferedAmount < highWaterMark) for (const listener of drainListeners) listener();
  };
  return {
    write: (bytes) => {
      ws.send(bytes, { binary: true }, afterSend);
      return ws.bufferedAmount < highWaterMark;
    },
    onData: (listener) => ws.on('message', (data: Buffer) => listener(data)),
    onDrain: (listener) => drainListeners.push(listener),
    onClose: (listener) => {
      ws.on('close', listener);
      ws.on('error', () => ws.terminate());
    },
    close: () => ws.close(),
  };
}
