/**
 * Serves the control protocol (`src/shared/control-protocol.ts`) on a Unix socket in the state
 * directory: the directory mode 0700, the socket 0600, so only the user can open it. Each
 * connection carries one request; the answer may be preceded by progress lines (and, for
 * `watch`, event lines until the asking side hangs up). The instance lock, not this socket,
 * decides who runs: a socket file left by a crash is simply replaced.
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  controlProtocolVersion,
  maxRequestBytes,
  parseControlRequest,
  type ControlErrorCode,
  type ControlRequest,
} from '../../../shared/control-protocol';
import type { ListResult } from '../../../shared/control-answers';
import { controlSocketPath } from './control-paths';

/** What a handler can send before its answer. */
export interface ControlChannel {
  progress: (message: string) => void;
  event: (list: ListResult) => void;
  /** Resolves when the asking side hangs up (a `watch` ends then). */
  readonly hungUp: Promise<void>;
}

/** A failure the handler means: a refusal the user can act on, or a bug. */
export type ControlFailure = { code: ControlErrorCode; message: string };

export type ControlHandler = (request: ControlRequest, channel: ControlChannel) => Promise<unknown>;

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

function line(message: object): string {
  return `${JSON.stringify({ v: controlProtocolVersion, ...message })}\n`;
}

/** How long a closing server lets requests under way finish (`--stop` of the last expose ends it). */
const closeGraceMs = 5_000;

/**
 * Serves one request on one connection (a socket, or any duplex stream: the framing is tested
 * over an in-memory pair). Answers under way are added to `inFlight`, so a closing server can
 * let them finish.
 */
export function serveControlConnection(
  socket: Duplex,
  handle: ControlHandler,
  classify: (error: unknown) => ControlFailure,
  inFlight = new Set<Promise<unknown>>(),
): void {
  let buffered = Buffer.alloc(0);
  let answered = false;
  const send = (message: object): void => {
    if (!socket.destroyed && socket.writable) socket.write(line(message));
  };
  const finish = (message: object): void => {
    if (!socket.destroyed && socket.writable) socket.end(line(message));
  };
  const hungUp = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => {
    if (answered) return;
    buffered = Buffer.concat([buffered, chunk]);
    const newline = buffered.indexOf(0x0a);
    if (newline < 0) {
      if (buffered.length > maxRequestBytes) {
        answered = true;
        finish({
          ok: false,
          code: 'too-large',
          message: `The request is over ${String(maxRequestBytes / 1024)} KiB; no control request is that long.`,
        });
      }
      return;
    }
    answered = true;
    const parsed = parseControlRequest(buffered.subarray(0, newline).toString('utf8'));
    if (!parsed.ok) {
      finish({ ok: false, code: parsed.code, message: parsed.message });
      return;
    }
    const channel: ControlChannel = {
      progress: (message) => send({ progress: message.slice(0, 4096) }),
      event: (list) => send({ event: list }),
      hungUp,
    };
    const answer = handle(parsed.request, channel).then(
      (result) => finish({ ok: true, result: result ?? null }),
      (error: unknown) => finish({ ok: false, ...classify(error) }),
    );
    // A watch lasts until it is hung up on; closing never waits for one.
    if (parsed.request.op !== 'watch') {
      inFlight.add(answer);
      void answer.finally(() => inFlight.delete(answer));
    }
  });
  // A client that goes away mid-answer is its own business.
  socket.on('error', () => socket.destroy());
}

/** Serves `handle` on the state directory's control socket. */
export async function startControlServer(
  stateDirectory: string,
  handle: ControlHandler,
  classify: (error: unknown) => ControlFailure,
): Promise<ControlServer> {
  mkdirSync(stateDirectory, { recursive: true, mode: 0o700 });
  chmodSync(stateDirectory, 0o700);
  const path = controlSocketPath(stateDirectory);
  // The caller holds the instance lock: a socket here is a crashed instance's.
  rmSync(path, { force: true });
  const sockets = new Set<Socket>();
  const inFlight = new Set<Promise<unknown>>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveControlConnection(socket, handle, classify, inFlight);
  });
  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(previousMask);
  }
  return {
    path,
    close: async () => {
      rmSync(path, { force: true });
      server.close();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, closeGraceMs).unref());
      await Promise.race([Promise.allSettled([...inFlight]), grace]);
      await new Promise<void>((resolve) => {
        // Watchers hold their connection open: end them, so close does not wait on them.
        for (const socket of sockets) socket.end();
        if (sockets.size === 0) resolve();
        for (const socket of sockets)
          socket.once('close', () => {
            if (sockets.size === 0) resolve();
          });
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
          resolve();
        }, 1000).unref();
      });
    },
  };
}
