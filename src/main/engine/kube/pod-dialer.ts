/**
 * A TCP-like stream to a pod's port through the API server: one WebSocket per connection with the
 * port-forward channel protocol (v4.channel.k8s.io), authenticated and TLS-checked from the
 * kubeconfig. Nothing is opened until a connection needs it.
 */
import { Duplex } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import WebSocket from 'ws';

/** A port-forward the API server or kubelet refused, with its own message. */
export class PortForwardError extends Error {
  override name = 'PortForwardError';
}

export interface PodDialer {
  /** Resolves once the tunnel is open; data errors (pod refused the port) arrive as stream errors. */
  dial(namespace: string, pod: string, port: number): Promise<Duplex>;
}

const dataChannel = 0;
const errorChannel = 1;

class PodStream extends Duplex {
  private prefixLeft = { [dataChannel]: 2, [errorChannel]: 2 } as Record<number, number>;
  private errorText = '';

  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: true });
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', () => {
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
    if (channel === dataChannel && !this.push(payload)) this.ws.pause();
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = dataChannel;
    chunk.copy(frame, 1);
    this.ws.send(frame, { binary: true }, (error) => callback(error ?? null));
  }

  override _final(callback: () => void): void {
    // The channel protocol has no half-close: the tunnel stays open until the pod side ends.
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
    callback(error);
  }
}

function statusMessage(body: string, code: number | undefined): string {
  try {
    const status = JSON.parse(body) as { message?: string };
    if (status.message) return status.message;
  } catch {
    // Not a Status object; fall through to the HTTP code.
  }
  return `the API server answered ${String(code)} to the port-forward`;
}

export function createPodDialer(
  kubeConfig: k8s.KubeConfig,
  options: { handshakeTimeoutMs?: number } = {},
): PodDialer {
  const server = kubeConfig.getCurrentCluster()?.server ?? '';
  const base = server.replace(/^http/, 'ws').replace(/\/$/, '');
  return {
    async dial(namespace, pod, port) {
      const wsOptions: WebSocket.ClientOptions = {
        perMessageDeflate: false,
        handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      };
      await kubeConfig.applyToHTTPSOptions(wsOptions);
      const url = `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${port}`;
      const ws = new WebSocket(url, ['v4.channel.k8s.io'], wsOptions);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_request, response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => reject(new PortForwardError(statusMessage(body, response.statusCode))));
        });
        ws.once('error', (error) =>
          reject(new PortForwardError(`cannot reach the API server at ${server}: ${error.message}`)),
        );
      });
      return new PodStream(ws);
    },
  };
}
