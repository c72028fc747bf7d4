/**
 * A TCP-like stream to a pod's port through the API server, authenticated and TLS-checked from
 * the kubeconfig: streams on a SPDY/3.1 session per pod (as kubectl), or one WebSocket per
 * connection with the channel protocol (v4.channel.k8s.io) where SPDY is unavailable. Nothing is
 * opened until a connection needs it.
 */
import type { RequestOptions } from 'node:https';
import { DEFAULT_CIPHERS as tlsDefaultCiphers } from 'node:tls';
import type { Duplex } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import type WebSocket from 'ws';
import { dialChannel, PortForwardError } from './channel-stream';
import type { SessionEnd, SessionTiming, SpdySession } from './spdy/spdy-session';
import { openSpdyOverWebSocket, openSpdyUpgrade, SpdyUnavailableError } from './spdy/spdy-upgrade';
import {
  portForwardTransports,
  transportLabels,
  type PortForwardTransport,
} from '../../../shared/tunnel-status';

export { PortForwardError } from './channel-stream';

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
  /** The sessions to `target` take no new connections: the next dial opens a fresh one. They close once their last connection ends. */
  retire(target: PodTarget): void;
  /** Closes every open session. */
  close(): void;
  /** How connections reach pods on this API server now, once the first one has. */
  readonly transport: PortForwardTransport | undefined;
  /**
   * What a user should know about the sessions to one pod: stalls of any incarnation (a user
   * counts them per name), readers holding up this incarnation's sessions now.
   */
  health(target: PodTarget): PodSessionHealth;
}

export interface PodSessionHealth {
  /** Sessions to the pod given up since the dialer opened because they stopped answering. */
  stalls: number;
  /**
   * Connections that wait because a reader on their session stopped reading (the kubelet's SPDY
   * cannot slow one stream, so the whole session waits for that reader).
   */
  waitingOnSlowReader: number;
}

export interface PodDialerOptions extends SessionTiming {
  handshakeTimeoutMs?: number;
  /** Where the transport choice, each fallback, each stalled session and each slow reader are said. */
  log?: (message: string) => void;
  /** The first transport to try (`LOCALIZER_PORT_FORWARD`); SPDY over WebSocket by default. */
  firstTransport?: PortForwardTransport;
  /** A session stalled, or a slow reader began or stopped holding one up. */
  onHealthChange?: () => void;
}

export { portForwardTransports, type PortForwardTransport } from '../../../shared/tunnel-status';

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

/** One pod incarnation's sessions; also how callers key what they keep per pod. */
export function sessionKey(target: PodTarget): string {
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

/**
 * Dials pods through SPDY sessions (one per pod, kept while in use), falling back to one
 * WebSocket per connection when the API server will not upgrade to SPDY.
 */
export function createPodDialer(kubeConfig: k8s.KubeConfig, options: PodDialerOptions = {}): PodDialer {
  const server = (kubeConfig.getCurrentCluster()?.server ?? '').replace(/\/$/, '');
  const sessions = new Map<string, SessionSlot[]>();
  /** Sessions given up for silence, by `namespace/pod`. */
  const stalls = new Map<string, number>();
  /** The transport tried now; settled once a connection went through on it. */
  let transport: PortForwardTransport = options.firstTransport ?? 'spdy-websocket';
  let settled = false;
  const fallBack = (from: PortForwardTransport, reason: string): void => {
    if (transport !== from) return; // another connection already moved on
    const next = portForwardTransports[portForwardTransports.indexOf(from) + 1] ?? 'websocket';
    transport = next;
    options.log?.(
      `port-forward to ${server}: ${transportLabels[from]} is not available (${reason}); using ${transportLabels[next]} from now on`,
    );
  };
  const settle = (): void => {
    if (settled) return;
    settled = true;
    options.log?.(`port-forward to ${server} uses ${transportLabels[transport]}`);
  };

  const sessionEnded = (target: PodTarget, end: SessionEnd): void => {
    if (!end.stalled) return;
    const pod = `${target.namespace}/${target.pod}`;
    stalls.set(pod, (stalls.get(pod) ?? 0) + 1);
    options.log?.(`port-forward to pod ${pod}: ${end.message}`);
    options.onHealthChange?.();
  };

  const openSession = (key: string, target: PodTarget): SessionSlot => {
    const slot: SessionSlot = {
      promised: 0,
      opening: (async () => {
        const requestOptions: RequestOptions = { ciphers: bulkCiphers };
        await kubeConfig.applyToHTTPSOptions(requestOptions);
        const url = `${server}${podPath(target.namespace, target.pod)}`;
        return transport === 'spdy-websocket'
          ? openSpdyOverWebSocket(
              url,
              {
                ...(requestOptions as WebSocket.ClientOptions),
                handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
              },
              options,
            )
          : openSpdyUpgrade(url, requestOptions, options);
      })(),
    };
    const forget = (): void => {
      const remaining = (sessions.get(key) ?? []).filter((s) => s !== slot);
      if (remaining.length > 0) sessions.set(key, remaining);
      else sessions.delete(key);
    };
    slot.opening.then((opened) => {
      slot.session = opened;
      opened.onClose = (end) => {
        forget();
        sessionEnded(target, end);
      };
      opened.onHeld = (held) => {
        options.log?.(
          held
            ? `port-forward to pod ${target.namespace}/${target.pod}: a client stopped reading, so the other connections on its session wait for it (the kubelet's port-forward cannot slow one connection alone)`
            : `port-forward to pod ${target.namespace}/${target.pod}: the slow client caught up`,
        );
        options.onHealthChange?.();
      };
    }, forget);
    sessions.set(key, [...(sessions.get(key) ?? []), slot]);
    return slot;
  };

  /**
   * The session for a new connection to `target`: the least busy one, counting connections
   * promised to sessions still opening. When every one already carries `streamsPerSession`,
   * another is opened for this connection (up to `maxSessionsPerPod`): a burst of connections
   * spreads over sessions instead of piling onto the first, where each new one's first byte
   * would queue behind the bulk data of the others. A session held up by a reader that stopped,
   * or one that went quiet (suspect), takes no new connection while another can be opened.
   */
  const session = (target: PodTarget): Promise<SpdySession> => {
    const key = sessionKey(target);
    const slots = (sessions.get(key) ?? []).filter((s) => !s.session || s.session.isOpen);
    const load = (slot: SessionSlot): number =>
      slot.session
        ? Math.max(slot.session.load, slot.session.pausedForReader ? streamsPerSession : 0)
        : slot.promised;
    // A quiet session never takes a new connection: it would wait for what may never answer.
    const usable = slots.filter((s) => !s.session?.suspect);
    const leastBusy = usable.sort((a, b) => load(a) - load(b))[0];
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
        const stream = await dialChannel({
          kubeConfig,
          server,
          path: podPath(target.namespace, target.pod),
          port,
          ciphers: bulkCiphers,
          handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
          ...(options.clock ? { clock: options.clock } : {}),
        });
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
        // server does not speak this transport: try the next one, and keep to it. A WebSocket
        // upgrade is a GET, which before Kubernetes 1.35 needs \`get\` on pods/portforward where
        // the POST of a raw SPDY upgrade needs \`create\`: as kubectl does, a refused upgrade
        // falls back.
        if (/forbidden/i.test(error.message) && tried === 'spdy-websocket') {
          fallBack(tried, error.message);
          return this.dial(target, port);
        }
        if (/forbidden/i.test(error.message))
          throw new PortForwardError(
            `${error.message}. Port-forwarding needs RBAC \`create\` on \`pods/portforward\` in namespace ${target.namespace} (from Kubernetes 1.35 the WebSocket path checks \`create\`, not only \`get\`).`,
          );
        if (/not found|not running/i.test(error.message)) throw new PortForwardError(error.message);
        fallBack(tried, error.message);
        return this.dial(target, port);
      }
    },
    retire(target) {
      retireKey(sessionKey(target));
    },
    get transport() {
      return settled ? transport : undefined;
    },
    health(target) {
      let waitingOnSlowReader = 0;
      for (const slot of sessions.get(sessionKey(target)) ?? [])
        if (slot.session?.heldUpBySlowReader) waitingOnSlowReader += Math.max(0, slot.session.load - 1);
      return { stalls: stalls.get(`${target.namespace}/${target.pod}`) ?? 0, waitingOnSlowReader };
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
