/**
 * Opens a SPDY/3.1 port-forward session on the API server, in either upgrade kubectl uses: SPDY
 * tunnelled in a WebSocket (kubectl 1.31+, the one recent servers keep) or a raw `SPDY/3.1`
 * upgrade of a POST (older servers). Either rejects with `SpdyUnavailableError` when the server
 * answers anything but the upgrade, so the dialer can fall back.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { refusalMessage } from '../api-errors';
import { SpdySession, type SessionTiming } from './spdy-session';
import { WebSocketCarrier } from './websocket-carrier';

/** kubectl 1.31+'s subprotocol: SPDY/3.1 frames carried in a WebSocket's binary messages. */
export const spdyOverWebSocketProtocol = 'SPDY/3.1+portforward.k8s.io';

/** The server would not upgrade to SPDY; the caller may fall back to WebSockets. */
export class SpdyUnavailableError extends Error {
  override name = 'SpdyUnavailableError';
}

function refused(code: number | undefined): string {
  return `the API server answered ${String(code)} instead of upgrading the port-forward`;
}

/** Upgrades a POST to `…/portforward` to SPDY/3.1. */
export function openSpdyUpgrade(
  url: string,
  options: RequestOptions,
  timing: SessionTiming = {},
): Promise<SpdySession> {
  // applyToHTTPSOptions writes headers as an object; the array form never comes from it.
  // (Array.isArray does not narrow readonly arrays, hence the explicit type.)
  const headers: OutgoingHttpHeaders =
    options.headers && !Array.isArray(options.headers) ? (options.headers as OutgoingHttpHeaders) : {};
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, {
      ...options,
      method: 'POST',
      headers: {
        ...headers,
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': 'portforward.k8s.io',
      },
    });
    request.on('upgrade', (response, socket: Socket, head: Buffer) => {
      if (response.headers['x-stream-protocol-version'] !== 'portforward.k8s.io') {
        socket.destroy();
        reject(new SpdyUnavailableError('the API server did not agree on the port-forward protocol'));
        return;
      }
      resolve(SpdySession.over(socket, timing, head));
    });
    request.on('response', (response) => {
      void refusalMessage(response, refused).then((message) => reject(new SpdyUnavailableError(message)));
    });
    request.on('error', reject);
    request.end();
  });
}

/**
 * Opens a session as kubectl 1.31+ does: a WebSocket upgrade of `GET …/portforward` whose only
 * subprotocol is `SPDY/3.1+portforward.k8s.io`, carrying SPDY frames.
 */
export function openSpdyOverWebSocket(
  url: string,
  options: WebSocket.ClientOptions,
  timing: SessionTiming = {},
): Promise<SpdySession> {
  return new Promise((resolve, reject) => {
    // ws allows only token characters in subprotocols, and '/' and '+' are not: offer it by
    // header and check the server's answer ourselves, before ws looks for one it asked for.
    const ws = new WebSocket(url.replace(/^http/, 'ws'), {
      ...options,
      perMessageDeflate: false,
      headers: { ...options.headers, 'Sec-WebSocket-Protocol': spdyOverWebSocketProtocol },
    });
    ws.once('upgrade', (response) => {
      const chosen = response.headers['sec-websocket-protocol'];
      delete response.headers['sec-websocket-protocol'];
      if (chosen !== spdyOverWebSocketProtocol) {
        ws.terminate();
        reject(
          new SpdyUnavailableError(
            `the API server did not agree on ${spdyOverWebSocketProtocol} (it chose ${chosen ?? 'none'})`,
          ),
        );
      }
    });
    ws.once('open', () => resolve(SpdySession.over(new WebSocketCarrier(ws), timing)));
    ws.once('unexpected-response', (_request, response) => {
      void refusalMessage(response, refused).then((message) => reject(new SpdyUnavailableError(message)));
    });
    ws.once('error', (error) => reject(error));
  });
}
