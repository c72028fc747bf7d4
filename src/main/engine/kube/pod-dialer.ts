/**
 * A TCP-like stream to a pod's port through the API server, authenticated and TLS-checked from
 * the kubeconfig: streams on a SPDY/3.1 session per pod (as kubectl), or one WebSocket per
 * connection with the channel protocol (v4.channel.k8s.io) where SPDY is unavailable. Nothing is
 * opened until a connection needs it.
 */
import type { RequestOptions } from 'node:https';
import { DEFAULT_CIPHERS as tlsDefaultCiphers } from 'node:tls';
import { Duplex } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import WebSocket from 'ws';
import { refusalMessage } from './api-errors';
import { SpdySession, SpdyUnavailableError, type SessionTiming } from './spdy/spdy-session';
import { sendWithBackpressure } from './spdy/websocket-carrier';

/** A port-forward the API server or kubelet refused, with its own message. */
export class PortForwardError extends Error {
  override name = 'PortForwardError';
}

/**
 * One pod, as the API server names it, and which incarnation: a StatefulSet pod replaced under
 * the same name is another pod (another UID), possibly on another node.
 */
export interface PodTarget {
  namespace: string;
  pod: string;
  /** The pod's UID (an EndpointSlice's `targetRef.uid`), when known. */
  uid?: string | undefined;
}

export interface PodDialer {
  /**
   * Resolves once the connection's streams are asked for, not acknowledged: a refusal (the pod
   * refused the port, or is gone) and a session that went quiet arrive as stream errors.
   */
  dial(target: PodTarget, port: number): Promise<Duplex>;
  /**
   * Takes no new connections on the sessions of pods not in `alive` (pods that left the ready
   * endpoints, or were replaced under the same name); each closes once its last connection ends.
   */
  retainOnly(alive: Iterable<PodTarget>): void;
  /** The session to `target` no longer takes new connections: the next dial opens a fresh one. */
  retire(target: PodTarget): void;
  /** Closes every open session. */
  close(): void;
  /** How connections reach pods on this API server now, once the first one has. */
  readonly transport: PortForwardTransport | undefined;
}

/**
 * Port-forward transports, in the order they are tried: SPDY tunnelled in a WebSocket (kubectl
 * 1.31+, the one recent API servers keep), SPDY on a raw upgrade (older servers), and one
 * WebSocket per connection with the channel protocol (where SPDY is unavailable).
 */
export const portForwardTransports = ['spdy-websocket', 'spdy', 'websocket'] as const;
export type PortForwardTransport = (typeof portForwardTransports)[number];

const transportNames: Record<PortForwardTransport, string> = {
  'spdy-websocket': 'SPDY over WebSocket',
  spdy: 'SPDY',
  websocket: 'one WebSocket per connection',
};

/** A session to a pod, while it opens and once it is open. */
interface SessionSlot {
  opening: Promise<SpdySession>;
  session?: SpdySession;
  /** Connections waiting for it to open. */
  promised: number;
}

/**
 * Connections one session carries before another is opened beside it, and how many at most.
 * Measured against kubectl with 32 downloads at once: one session moved them as fast, with first
 * bytes as early; a second session from the 5th or the 17th connection on made the first bytes
 * later (another TLS handshake and stream to feed on the same cores), for no more throughput.
 */
export const streamsPerSession = 32;
export const maxSessionsPerPod = 4;

function sessionKey(target: PodTarget): string {
  return `${target.namespace}/${target.pod}/${target.uid ?? ''}`;
}

/**
 * AES-128-GCM first, as Go (kubectl, the API server) orders it where the CPU has AES
 * instructions: Node's default puts AES-256 first, which costs the API server more per byte on
 * the session that carries every byte.
 */
const bulkCiphers = [
  'TLS_AES_128_GCM_SHA256',
  ...tlsDefaultCiphers.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256'),
].join(':');

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
    sendWithBackpressure(this.ws, frame, callback);
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

/**
 * Dials pods through SPDY sessions (one per pod, kept while in use), falling back to one
 * WebSocket per connection when the API server will not upgrade to SPDY.
 */
export function createPodDialer(
  kubeConfig: k8s.KubeConfig,
  options: {
    handshakeTimeoutMs?: number;
    /** Where the transport choice and each fallback are said. */
    log?: (message: string) => void;
    /** The first transport to try (tests); SPDY over WebSocket by default. */
    firstTransport?: PortForwardTransport;
  } & SessionTiming = {},
): PodDialer {
  const server = (kubeConfig.getCurrentCluster()?.server ?? '').replace(/\/$/, '');
  const sessions = new Map<string, SessionSlot[]>();
  /** The transport tried now; settled once a connection went through on it. */
  let transport: PortForwardTransport = options.firstTransport ?? 'spdy-websocket';
  let settled = false;
  const fallBack = (from: PortForwardTransport, reason: string): void => {
    if (transport !== from) return; // another connection already moved on
    const next = portForwardTransports[portForwardTransports.indexOf(from) + 1] ?? 'websocket';
    transport = next;
    options.log?.(
      `port-forward to ${server}: ${transportNames[from]} is not available (${reason}); using ${transportNames[next]} from now on`,
    );
  };
  const settle = (): void => {
    if (settled) return;
    settled = true;
    options.log?.(`port-forward to ${server} uses ${transportNames[transport]}`);
  };

  const dialWebSocket = async (namespace: string, pod: string, port: number): Promise<Duplex> => {
    const wsOptions: WebSocket.ClientOptions = {
      ciphers: bulkCiphers,
      perMessageDeflate: false,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    };
    await kubeConfig.applyToHTTPSOptions(wsOptions);
    const url = `${server.replace(/^http/, 'ws')}${podPath(namespace, pod)}?ports=${port}`;
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
        reject(new PortForwardError(`cannot reach the API server at ${server}: ${error.message}`)),
      );
    });
    return new PodStream(ws);
  };

  const openSession = (key: string, target: PodTarget): SessionSlot => {
    const slot: SessionSlot = {
      promised: 0,
      opening: (async () => {
        const requestOptions: RequestOptions = { ciphers: bulkCiphers };
        await kubeConfig.applyToHTTPSOptions(requestOptions);
        const url = `${server}${podPath(target.namespace, target.pod)}`;
        return transport === 'spdy-websocket'
          ? SpdySession.openOverWebSocket(
              url,
              {
                ...(requestOptions as WebSocket.ClientOptions),
                handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
              },
              options,
            )
          : SpdySession.open(url, requestOptions, options);
      })(),
    };
    const forget = (): void => {
      const remaining = (sessions.get(key) ?? []).filter((s) => s !== slot);
      if (remaining.length > 0) sessions.set(key, remaining);
      else sessions.delete(key);
    };
    slot.opening.then((opened) => {
      slot.session = opened;
      opened.onClose = forget;
    }, forget);
    sessions.set(key, [...(sessions.get(key) ?? []), slot]);
    return slot;
  };

  /**
   * The session for a new connection to `target`: the least busy one, counting connections
   * promised to sessions still opening. When every one already carries `streamsPerSession`,
   * another is opened for this connection (up to `maxSessionsPerPod`): a burst of connections
   * spreads over sessions instead of piling onto the first, where each new one's first byte
   * would queue behind the bulk data of the others. A session stalled by a reader that stopped
   * counts as full, so new connections go around it.
   */
  const session = (target: PodTarget): Promise<SpdySession> => {
    const key = sessionKey(target);
    const slots = (sessions.get(key) ?? []).filter((s) => !s.session || s.session.isOpen);
    // A stalled session counts as full: a connection put on it would wait for its slow reader.
    const load = (slot: SessionSlot): number =>
      slot.session
        ? Math.max(slot.session.load, slot.session.stalled ? streamsPerSession : 0)
        : slot.promised;
    const leastBusy = slots.sort((a, b) => load(a) - load(b))[0];
    const chosen =
      !leastBusy || (load(leastBusy) >= streamsPerSession && slots.length < maxSessionsPerPod)
        ? openSession(key, target)
        : leastBusy;
    if (!chosen.session) chosen.promised++;
    return chosen.opening;
  };

  const retireKey = (key: string): void => {
    const slots = sessions.get(key);
    if (!slots) return;
    sessions.delete(key);
    for (const slot of slots)
      void slot.opening.then(
        (s) => s.retire(),
        () => undefined,
      );
  };

  return {
    async dial(target, port) {
      const tried = transport;
      if (tried === 'websocket') {
        const stream = await dialWebSocket(target.namespace, target.pod, port);
        settle();
        return stream;
      }
      try {
        const current = await session(target);
        const stream = current.openStream(port);
        settle();
        return stream;
      } catch (error) {
        if (!(error instanceof SpdyUnavailableError)) {
          throw new PortForwardError(
            `cannot reach the API server at ${server}: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        // A refusal of this pod (RBAC, gone, not running) is final; anything else means the
        // server does not speak this transport: try the next one, and keep to it.
        if (/forbidden/i.test(error.message))
          throw new PortForwardError(
            `${error.message}. Port-forwarding needs RBAC \`create\` on \`pods/portforward\` in namespace ${target.namespace} (from Kubernetes 1.35 the WebSocket path checks \`create\`, not only \`get\`).`,
          );
        if (/not found|not running/i.test(error.message)) throw new PortForwardError(error.message);
        fallBack(tried, error.message);
        return this.dial(target, port);
      }
    },
    retainOnly(alive) {
      const keep = new Set([...alive].map(sessionKey));
      for (const key of [...sessions.keys()]) if (!keep.has(key)) retireKey(key);
    },
    retire(target) {
      retireKey(sessionKey(target));
    },
    get transport() {
      return settled ? transport : undefined;
    },
    close() {
      for (const slot of [...sessions.values()].flat())
        void slot.opening.then(
          (s) => s.close(),
          () => undefined,
        );
      sessions.clear();
    },
  };
}

function podPath(namespace: string, pod: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward`;
}
