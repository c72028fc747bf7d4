/**
 * The `pods/portforward` upgrade, in all three forms clients use: the WebSocket channel protocol,
 * SPDY/3.1 tunnelled in a WebSocket (kubectl 1.31+), and SPDY/3.1 on a raw `101 Switching
 * Protocols` connection (older kubectl, or KUBECTL_PORT_FORWARD_WEBSOCKETS=false).
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ApiError, errors } from '../api/status-errors';
import { field } from '../api/objects';
import type { UpgradeHandler } from '../api/http-server';
import type { ObjectStore } from '../api/store';
import { socketChannel, webSocketChannel, type ByteChannel } from './byte-channel';
import { serveChannelPortForward } from './channel-portforward';
import {
  serveSpdyPortForward,
  type DescribeFailure,
  type Dial,
  type SpdySessionControl,
} from './spdy-portforward';

const spdyOverWebSocket = 'SPDY/3.1+portforward.k8s.io';
const channelProtocol = 'v4.channel.k8s.io';

/**
 * Faults tests can inject into port-forwarding. `freeze`: SPDY sessions, open and new, take what
 * they are sent and answer nothing, as a connection that died while the laptop slept.
 */
export interface PortForwardFaults {
  mode: 'normal' | 'refuse' | 'delay' | 'freeze';
  delayMs: number;
  /**
   * Port-forward upgrades this API server does not speak, as an older server (no SPDY in a
   * WebSocket before 1.30) or a newer one (no raw SPDY upgrade once KEP-4006 removes it) answers.
   */
  unsupported?: Set<'spdy-websocket' | 'spdy'>;
  /** Cut each SPDY session at this age, as load balancers cut long-lived connections (open ones too). */
  maxSessionAgeMs?: number;
}

/** The port-forward upgrades served, by the kind the client asked for. */
export type PortForwardUpgradeCounts = Record<'spdy-websocket' | 'spdy' | 'websocket', number>;

/** What tests can see and do to the port-forwards a cluster serves. */
export interface PortForwardHandler {
  handle: UpgradeHandler;
  /** Upgrades served so far, by kind: which transport a client really used. */
  upgrades: PortForwardUpgradeCounts;
  /** The SPDY sessions open now stop answering (new ones work): a stall nobody sees. */
  stallOpenSessions(): number;
  /** Applies a changed `maxSessionAgeMs` to the sessions open now. */
  applyMaxAge(): void;
}

function offeredProtocols(request: IncomingMessage): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

function rejectUpgrade(socket: Duplex, error: ApiError): void {
  const text = JSON.stringify(error.toStatus());
  socket.end(
    `HTTP/1.1 ${error.code} ${error.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** The kubelet is written in Go; its users read Go's wording for socket errors. */
function goDialError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connect: connection refused';
  if (code === 'ETIMEDOUT') return 'i/o timeout';
  if (code === 'EHOSTUNREACH') return 'connect: no route to host';
  if (code === 'ECONNRESET') return 'read: connection reset by peer';
  return error.message;
}

export function createPortForwardHandler(store: ObjectStore, faults: PortForwardFaults): PortForwardHandler {
  const isFrozen = (): boolean => faults.mode === 'freeze';
  const upgrades: PortForwardUpgradeCounts = { 'spdy-websocket': 0, spdy: 0, websocket: 0 };
  /** Open SPDY sessions, with when each began and the timer that cuts it at the fault's age. */
  const openSessions = new Map<SpdySessionControl, { startedAt: number; cut?: NodeJS.Timeout }>();
  const scheduleCut = (session: SpdySessionControl): void => {
    const entry = openSessions.get(session);
    if (!entry) return;
    clearTimeout(entry.cut);
    const age = faults.maxSessionAgeMs;
    entry.cut =
      age === undefined
        ? undefined
        : setTimeout(() => session.cut(), Math.max(0, entry.startedAt + age - Date.now()));
  };
  const serveSpdy = (channel: ByteChannel, dial: Dial, describeFailure: DescribeFailure): void => {
    const session = serveSpdyPortForward(channel, dial, describeFailure, isFrozen);
    openSessions.set(session, { startedAt: Date.now() });
    scheduleCut(session);
    channel.onClose(() => {
      clearTimeout(openSessions.get(session)?.cut);
      openSessions.delete(session);
    });
  };
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Clients offer v5 down to v1; this server speaks v4, like the kubelets our clients were tested with.
    handleProtocols: (protocols) => (protocols.has(channelProtocol) ? channelProtocol : false),
  });
  const spdyRequests = new WeakSet<IncomingMessage>();
  // ws refuses `SPDY/3.1+portforward.k8s.io` as a token, so it is answered by hand.
  wss.on('headers', (headers: string[], request: IncomingMessage) => {
    if (spdyRequests.has(request)) headers.push(`Sec-WebSocket-Protocol: ${spdyOverWebSocket}`);
  });

  const handle: UpgradeHandler = ({ request, socket, head, path }) => {
    if (path.subresource !== 'portforward' || path.type.kind !== 'Pod') {
      rejectUpgrade(
        socket,
        errors.badRequest(`upgrade is not supported on ${path.type.resource}/${path.subresource ?? ''}`),
      );
      return;
    }
    const pod = store.get(path.type, path.namespace, path.name ?? '');
    if (!pod) {
      rejectUpgrade(socket, errors.notFound('pods', '', path.name ?? ''));
      return;
    }
    const phase = field(pod, 'status', 'phase');
    const podIp = field(pod, 'status', 'podIP');
    if (phase !== 'Running' || typeof podIp !== 'string') {
      rejectUpgrade(
        socket,
        errors.badRequest(
          `unable to upgrade connection: pod does not exist or is not running (phase ${String(phase)})`,
        ),
      );
      return;
    }
    const podLabel = `${path.namespace ?? ''}/${path.name ?? ''}`;
    const uid = pod.metadata.uid ?? '';
    const dial = (port: number): Promise<Socket> =>
      new Promise((resolve, reject) => {
        // The kubelet is Go, whose TCP connections have TCP_NODELAY on by default; containerd
        // keeps writing to the pod after the pod's FIN (a Go conn is not closed by its reader's EOF).
        const target = connect({ host: podIp, port, noDelay: true, allowHalfOpen: true });
        target.once('connect', () => resolve(target));
        target.once('error', reject);
      });
    const describeFailure: DescribeFailure = (port, error, during) =>
      during === 'dial'
        ? `error forwarding port ${port} to pod ${podLabel}, uid ${uid}: failed to connect to localhost:${port} inside namespace "${uid}", IPv4: dial tcp4 ${podIp}:${port}: ${goDialError(error)}`
        : `error forwarding port ${port} to pod ${podLabel}, uid ${uid}: failed to execute portforward for "${uid}" port ${port}: read tcp4 ${podIp}:${port}: ${goDialError(error)}`;

    const proceed = (): void => {
      if (faults.mode === 'refuse') {
        rejectUpgrade(
          socket,
          errors.internal('error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused'),
        );
        return;
      }
      const url = new URL(request.url ?? '/', 'https://localhost');
      const isWebSocket = (request.headers.upgrade ?? '').toLowerCase() === 'websocket';
      const kind = !isWebSocket
        ? 'spdy'
        : offeredProtocols(request).includes(spdyOverWebSocket)
          ? 'spdy-websocket'
          : undefined;
      if (kind && faults.unsupported?.has(kind)) {
        rejectUpgrade(
          socket,
          errors.badRequest(
            kind === 'spdy'
              ? 'unable to upgrade: SPDY/3.1 is no longer served; use a WebSocket'
              : `unable to upgrade: none of the offered subprotocols (${spdyOverWebSocket}) is supported; use ${channelProtocol}`,
          ),
        );
        return;
      }
      if (!isWebSocket) {
        if (!/^spdy\/3\.1$/i.test(request.headers.upgrade ?? '')) {
          rejectUpgrade(
            socket,
            errors.badRequest(`unable to upgrade: unsupported protocol ${request.headers.upgrade ?? ''}`),
          );
          return;
        }
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n',
        );
        upgrades.spdy++;
        serveSpdy(socketChannel(socket), dial, describeFailure);
        if (head.length > 0) socket.unshift(head);
        return;
      }
      const offered = offeredProtocols(request);
      if (offered.includes(spdyOverWebSocket)) {
        spdyRequests.add(request);
        delete request.headers['sec-websocket-protocol'];
        wss.handleUpgrade(request, socket, head, (ws) => {
          upgrades['spdy-websocket']++;
          serveSpdy(webSocketChannel(ws), dial, describeFailure);
        });
        return;
      }
      if (!offered.includes(channelProtocol)) {
        rejectUpgrade(
          socket,
          errors.badRequest(
            `unable to upgrade: none of the offered subprotocols (${offered.join(', ')}) is supported; use ${channelProtocol}`,
          ),
        );
        return;
      }
      const ports = url.searchParams
        .getAll('ports')
        .flatMap((p) => p.split(','))
        .map(Number);
      if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        rejectUpgrade(
          socket,
          errors.badRequest(
            'query parameter "ports" is required and must hold port numbers between 1 and 65535',
          ),
        );
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        upgrades.websocket++;
        serveChannelPortForward(ws, ports, dial, describeFailure);
      });
    };
    if (faults.mode === 'delay') setTimeout(proceed, faults.delayMs);
    else proceed();
  };
  return {
    handle,
    upgrades,
    stallOpenSessions: () => {
      for (const session of openSessions.keys()) session.stall();
      return openSessions.size;
    },
    // As a load balancer does: every connection older than the age is cut, open ones included.
    applyMaxAge: () => {
      for (const session of openSessions.keys()) scheduleCut(session);
    },
  };
}
