/**
 * One connection to a pod's port over the WebSocket channel protocol (`v4.channel.k8s.io`), the
 * port-forward of last resort where the API server speaks no SPDY: one WebSocket per connection,
 * port i on channel 2i (data) and 2i+1 (errors), each channel's first two bytes the port.
 */
import type * as k8s from '@kubernetes/client-node';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { systemClock, type Clock } from '../timing/clock';
import { refusalMessage } from './api-errors';
import { sendWithBackpressure } from './spdy/websocket-carrier';

/** A port-forward the API server or kubelet refused, with its own message. */
export class PortForwardError extends Error {
  override name = 'PortForwardError';
}

const dataChannel = 0;
const errorChannel = 1;

/**
 * The channel protocol cannot say "I have finished sending" (the kubelet would end the whole
 * forward on a WebSocket close). After the caller half-closes, the pod is given this long of
 * silence to finish answering, as the kubelet gives a pod 1 s once the client's direction of a
 * SPDY stream ends; then the connection closes.
 */
export const halfCloseGraceMs = 1_000;

class ChannelStream extends Duplex {
  private prefixLeft: Record<number, number> = { [dataChannel]: 2, [errorChannel]: 2 };
  private errorText = '';
  private callerEnded = false;
  private graceTimer: unknown;

  constructor(
    private readonly ws: WebSocket,
    private readonly clock: Clock,
  ) {
    super({ allowHalfOpen: true });
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', () => {
      this.clock.clearTimeout(this.graceTimer);
      if (this.errorText) this.destroy(new PortForwardError(this.errorText.trim()));
      else this.push(null);
    });
    ws.on('error', (error) => this.destroy(error));
  }

  private onMessage(data: Buffer): void {
    const channel = data[0];
    if (channel === undefined) return;
    let payload = data.subarray(1);
    const skip = Math.min(this.prefixLeft[channel] ?? 0, payload.length);
    if (skip > 0) {
      this.prefixLeft[channel] = (this.prefixLeft[channel] ?? 0) - skip;
      payload = payload.subarray(skip);
    }
    if (payload.length === 0) return;
    if (channel === errorChannel) {
      this.errorText += payload.toString('utf8');
      return;
    }
    if (channel !== dataChannel) return;
    if (this.push(payload)) {
      if (this.callerEnded) this.armGrace();
      return;
    }
    // Our own reader is behind: silence while we do not read says nothing about the pod.
    this.clock.clearTimeout(this.graceTimer);
    this.ws.pause();
  }

  /** Ends the connection once the pod has been quiet for `halfCloseGraceMs`. */
  private armGrace(): void {
    this.clock.clearTimeout(this.graceTimer);
    this.graceTimer = this.clock.setTimeout(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    }, halfCloseGraceMs);
  }

  override _read(): void {
    if (this.callerEnded) this.armGrace();
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = dataChannel;
    chunk.copy(frame, 1);
    sendWithBackpressure(this.ws, frame, callback);
  }

  override _final(callback: () => void): void {
    this.callerEnded = true;
    this.armGrace();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clock.clearTimeout(this.graceTimer);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
    callback(error);
  }
}

export interface ChannelDialOptions {
  kubeConfig: k8s.KubeConfig;
  /** The API server's URL, without a trailing slash. */
  server: string;
  /** `/api/v1/namespaces/NS/pods/NAME/portforward`. */
  path: string;
  port: number;
  ciphers: string;
  handshakeTimeoutMs: number;
  clock?: Clock;
}

/** Opens one WebSocket to the pod's port; rejects with `PortForwardError` saying why not. */
export async function dialChannel(options: ChannelDialOptions): Promise<Duplex> {
  const wsOptions: WebSocket.ClientOptions = {
    ciphers: options.ciphers,
    perMessageDeflate: false,
    handshakeTimeout: options.handshakeTimeoutMs,
  };
  await options.kubeConfig.applyToHTTPSOptions(wsOptions);
  const url = `${options.server.replace(/^http/, 'ws')}${options.path}?ports=${String(options.port)}`;
  const ws = new WebSocket(url, ['v4.channel.k8s.io'], wsOptions);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_request, response) => {
      void refusalMessage(
        response,
        (code) => `the API server answered ${String(code)} to the port-forward`,
      ).then((message) => reject(new PortForwardError(message)));
    });
    ws.once('error', (error) =>
      reject(new PortForwardError(`cannot reach the API server at ${options.server}: ${error.message}`)),
    );
  });
  return new ChannelStream(ws, options.clock ?? systemClock);
}
