/**
 * The running instance's control socket, for `localizer list` and friends: a Unix socket in the
 * state directory (mode 0700), the socket itself mode 0600, so only the user can open it. One
 * JSON request line, one JSON response line.
 */
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { RuntimeDiagnosticsSnapshot } from '../runtime-diagnostics';

/** Which kubeconfig and context an expose is for, as the asking command resolved them. */
export interface ControlKubeTarget {
  kubeconfig?: string;
  /** The asking command's `KUBECONFIG`, so the instance reads the same files. */
  kubeconfigEnv?: string;
  context?: string;
}

export type ControlRequest =
  | { op: 'list' }
  | ({
      op: 'expose';
      namespace: string;
      service: string;
      mappings: { localPort: number; remote: string | number }[];
    } & ControlKubeTarget)
  | { op: 'unexpose'; namespace: string; service: string };

export interface ListResponse {
  ok: true;
  tunnels: TunnelStatus[];
  health: { state: string; reason: string };
  pid: number;
  stats?: { hostsWrites: number; timings: { startedAt: number; firstListAt?: number; readyAt?: number } };
  /** With LOCALIZER_DIAGNOSTICS=1: event-loop delay and GC pauses since the last list. */
  diagnostics?: RuntimeDiagnosticsSnapshot;
}

export type ControlResponse = ListResponse | { ok: true; message: string } | { ok: false; message: string };

/** Handles one request; `progress` sends a line to the asking command before the answer. */
export type ControlHandler = (
  request: ControlRequest,
  progress: (message: string) => void,
) => ControlResponse | Promise<ControlResponse>;

/** No instance runs, or one cannot be reached; the message says which. */
export class ControlError extends Error {
  override name = 'ControlError';
}

export function controlSocketPath(stateDirectory: string): string {
  return join(stateDirectory, 'control.sock');
}

function probe(path: string): Promise<'alive' | 'stale' | 'absent'> {
  if (!existsSync(path)) return Promise.resolve('absent');
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve('alive');
    });
    socket.once('error', () => resolve('stale'));
  });
}

/** Serves `handle` on the state directory's socket. Throws `ControlError` if another instance has it. */
export async function startControlServer(
  stateDirectory: string,
  handle: ControlHandler,
): Promise<{ close: () => Promise<void> }> {
  mkdirSync(stateDirectory, { recursive: true, mode: 0o700 });
  chmodSync(stateDirectory, 0o700);
  const path = controlSocketPath(stateDirectory);
  const state = await probe(path);
  if (state === 'alive') {
    throw new ControlError(
      `Localizer is already running with state directory ${stateDirectory}. Stop it first, or give this one its own LOCALIZER_STATE_DIR.`,
    );
  }
  if (state === 'stale') rmSync(path, { force: true });
  const server: Server = createServer((socket) => {
    let buffered = '';
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline < 0 || answered) return;
      answered = true;
      const progress = (message: string): void => {
        if (!socket.destroyed) socket.write(`${JSON.stringify({ progress: message })}\n`);
      };
      void (async () => {
        let response: ControlResponse;
        try {
          response = await handle(JSON.parse(buffered.slice(0, newline)) as ControlRequest, progress);
        } catch (error) {
          response = { ok: false, message: error instanceof Error ? error.message : String(error) };
        }
        if (!socket.destroyed) socket.end(`${JSON.stringify(response)}\n`);
      })();
    });
    socket.on('error', () => socket.destroy());
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}

/** Asks the running instance; throws `ControlError` saying there is none, or that its socket is stale. */
export async function requestControl(
  stateDirectory: string,
  request: ControlRequest,
  onProgress: (message: string) => void = () => undefined,
): Promise<ControlResponse> {
  const path = controlSocketPath(stateDirectory);
  const state = await probe(path);
  if (state === 'absent')
    throw new ControlError(
      `Localizer is not running (no control socket in ${stateDirectory}). Start it with \`localizer connect\`.`,
    );
  if (state === 'stale') {
    throw new ControlError(
      `Localizer is not running: ${path} is left from an instance that stopped without cleaning up. Start it with \`localizer connect\`; the stale socket is replaced then.`,
    );
  }
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let text = '';
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    let answer: ControlResponse | undefined;
    const readLines = (): void => {
      for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        try {
          const message = JSON.parse(line) as ControlResponse | { progress: string };
          if ('progress' in message) onProgress(message.progress);
          else answer = message;
        } catch {
          // Reported below as an unreadable answer.
        }
      }
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      readLines();
    });
    socket.on('end', () => {
      if (answer) resolve(answer);
      else reject(new ControlError(`The running Localizer sent an unreadable answer on ${path}.`));
    });
    socket.on('error', (error) =>
      reject(new ControlError(`Cannot talk to the running Localizer on ${path}: ${error.message}`)),
    );
  });
}

/** `list` from the running instance; throws `ControlError` when there is none or it refuses. */
export async function requestList(stateDirectory: string): Promise<ListResponse> {
  const response = await requestControl(stateDirectory, { op: 'list' });
  if (!response.ok) throw new ControlError(response.message);
  if (!('tunnels' in response))
    throw new ControlError('The running Localizer answered list without tunnels.');
  return response;
}
