/**
 * A byte stream carried in a WebSocket's binary messages, as kubectl 1.31+ and recent API
 * servers carry a SPDY/3.1 port-forward session (`SPDY/3.1+portforward.k8s.io`): frames may
 * split across messages either way, so it is read as one stream. Writes made while corked go
 * out as one message (a SPDY data frame's header and payload together).
 */
import { Duplex } from 'node:stream';
import WebSocket from 'ws';

/** How much may wait in the WebSocket's send queue before writes wait for it to drain. */
const sendHighWaterMark = 1024 * 1024;

/**
 * Sends one binary message, pipelined: `callback` runs at once while little is queued, and once
 * the message is on the socket when a lot is (backpressure for the stream writing it).
 */
export function sendWithBackpressure(
  ws: WebSocket,
  bytes: Buffer,
  callback: (error?: Error | null) => void,
): void {
  if (ws.bufferedAmount < sendHighWaterMark) {
    ws.send(bytes, { binary: true });
    callback();
  } else {
    ws.send(bytes, { binary: true }, (error) => callback(error ?? null));
  }
}

export class WebSocketCarrier extends Duplex {
  constructor(private readonly ws: WebSocket) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
    ws.on('message', (data: Buffer) => {
      // A reader that paused wants reading to stop now, not once 1 MiB has piled up here.
      if (!this.push(data) || !this.readableFlowing) ws.pause();
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', (error) => this.destroy(error));
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    this.send(Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  private send(bytes: Buffer, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      callback(new Error('the port-forward WebSocket is closed'));
      return;
    }
    sendWithBackpressure(this.ws, bytes, callback);
  }

  override _final(callback: () => void): void {
    this.ws.close();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
    callback(error);
  }
}
