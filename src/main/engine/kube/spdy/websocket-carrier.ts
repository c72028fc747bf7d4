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

export class WebSocketCarrier extends Duplex {
  constructor(private readonly ws: WebSocket) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
    ws.on('message', (data: Buffer) => {
      if (!this.push(data)) ws.pause();
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
    // Pipeline sends; wait for the socket only when a lot is queued (backpressure).
    if (this.ws.bufferedAmount < sendHighWaterMark) {
      this.ws.send(bytes, { binary: true });
      callback();
    } else {
      this.ws.send(bytes, { binary: true }, (error) => callback(error ?? null));
    }
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
