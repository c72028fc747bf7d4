/** Talking to forwarded ports as a user's program would: real TCP connections on loopback. */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { createServer } from 'node:net';

/** Sends `payload` to an echo server at host:port, half-closes, and returns what came back. */
export function echoThrough(host: string, port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/**
 * Sends `payload` without half-closing and reads until as many bytes came back, then closes: for
 * transports without half-close, such as client-node's one-WebSocket-per-connection forward.
 */
export function echoRoundTrip(host: string, port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** GETs `path` over plain HTTP and returns the parsed JSON body. */
export async function getJson(host: string, port: number, path = '/'): Promise<Record<string, unknown>> {
  const response = await fetch(`http://${host}:${port}${path}`);
  return (await response.json()) as Record<string, unknown>;
}

export function randomPayload(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Connects and reports what a caller sees: `connected`, or the error code (`ECONNREFUSED`…). */
export function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
