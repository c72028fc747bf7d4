/**
 * The `localizer` commands' side of the control protocol: finds the running instance (through
 * the instance lock, so a crashed one is told apart from a live one), sends one request, relays
 * progress and events, and checks the answer against the protocol's schema.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  controlLineSchema,
  controlProtocolVersion,
  maxAnswerBytes,
  resultSchemas,
  type ControlErrorCode,
  type ControlOp,
  type ControlRequest,
  type ControlResult,
} from '../../../shared/control-protocol';
import type { ListResult } from '../../../shared/control-answers';
import { describeHolder, readHolder, type LockHolder } from './instance-lock';
import { controlSocketPath } from './control-paths';

/** No instance runs, it cannot be reached, or it said no; the message says which. */
export class ControlError extends Error {
  override name = 'ControlError';
  constructor(
    message: string,
    /** `not-running` when there is no instance to ask. */
    readonly code: ControlErrorCode | 'not-running' | 'unreachable',
  ) {
    super(message);
  }
}

export interface RunningInstance {
  holder: LockHolder;
  /** `the Localizer app (pid 4242)`. */
  description: string;
}

/** The live instance owning `stateDirectory`, or undefined. */
export function runningInstance(stateDirectory: string): RunningInstance | undefined {
  const holder = readHolder(stateDirectory);
  return holder ? { holder, description: describeHolder(holder) } : undefined;
}

export function notRunningMessage(stateDirectory: string): string {
  const left = existsSync(controlSocketPath(stateDirectory))
    ? `: ${controlSocketPath(stateDirectory)} is left from an instance that stopped without cleaning up (it is replaced when one starts)`
    : ` (no instance owns ${stateDirectory})`;
  return `Localizer is not running${left}. Start it with \`localizer daemon\`, the tray app, or \`localizer connect\`.`;
}

/** One control request, to whichever instance answers it (the running one's socket, or our own). */
export type ControlAsk = <Op extends ControlOp>(
  request: Extract<ControlRequest, { op: Op }>,
  options?: RequestOptions,
) => Promise<ControlResult<Op>>;

/** Asks the instance that owns `stateDirectory` over its control socket. */
export function askRunning(stateDirectory: string): ControlAsk {
  return (request, options) => requestControl(stateDirectory, request, options);
}

export interface RequestOptions {
  onProgress?: (message: string) => void;
  onEvent?: (list: ListResult) => void;
  /** How long to wait for a starting instance's socket, in ms. */
  socketWaitMs?: number;
  /** Hangs up (a `watch` ends); the request rejects. */
  signal?: AbortSignal;
}

function dial(path: string, waitMs: number): Promise<import('node:net').Socket> {
  const deadline = Date.now() + waitMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = connect(path);
      socket.once('connect', () => resolve(socket));
      socket.once('error', (error: NodeJS.ErrnoException) => {
        // An instance that holds the lock opens its socket a moment later.
        if ((error.code === 'ENOENT' || error.code === 'ECONNREFUSED') && Date.now() < deadline)
          setTimeout(attempt, 50);
        else reject(error);
      });
    };
    attempt();
  });
}

/** Asks the running instance; throws `ControlError` saying there is none, or why it refused. */
export async function requestControl<Op extends ControlOp>(
  stateDirectory: string,
  request: Extract<ControlRequest, { op: Op }>,
  options: RequestOptions = {},
): Promise<ControlResult<Op>> {
  const running = runningInstance(stateDirectory);
  if (!running) throw new ControlError(notRunningMessage(stateDirectory), 'not-running');
  const path = controlSocketPath(stateDirectory);
  let socket;
  try {
    socket = await dial(path, options.socketWaitMs ?? 3000);
  } catch (error) {
    throw new ControlError(
      `${running.description} runs, but its control socket ${path} does not answer (${(error as Error).message}). If it hangs, stop it and start again.`,
      'unreachable',
    );
  }
  return exchangeControl(socket, running.description, request, options);
}

/**
 * Sends one request on a connection to an instance (described as `instance` in messages: `the
 * Localizer app (pid 4242)`) and reads its progress, events and answer; the connection is
 * destroyed once the answer is in. Any duplex stream will do: the framing is tested over an
 * in-memory pair.
 */
export function exchangeControl<Op extends ControlOp>(
  socket: Duplex,
  instance: string,
  request: Extract<ControlRequest, { op: Op }>,
  options: RequestOptions = {},
): Promise<ControlResult<Op>> {
  return new Promise((resolve, reject) => {
    let pending = Buffer.alloc(0);
    let size = 0;
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      action();
      socket.destroy();
    };
    const handle = (raw: string): void => {
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        settle(() => reject(new ControlError(`${instance} sent an unreadable answer.`, 'internal')));
        return;
      }
      // The version first: a newer instance's answer may look well formed and mean another thing.
      const version = (json as { v?: unknown } | null)?.v;
      const parsed = controlLineSchema.safeParse(json);
      if (version !== controlProtocolVersion || !parsed.success) {
        settle(() =>
          reject(
            new ControlError(
              version !== controlProtocolVersion
                ? `${instance} speaks control protocol ${JSON.stringify(version)}, and this command speaks ${String(controlProtocolVersion)}. Use the localizer command of the same version.`
                : `${instance} sent an answer this command does not understand.`,
              'version',
            ),
          ),
        );
        return;
      }
      const message = parsed.data;
      if ('progress' in message) options.onProgress?.(message.progress);
      else if ('event' in message) options.onEvent?.(message.event);
      else if (message.ok) {
        const result = resultSchemas[request.op].safeParse(message.result);
        if (result.success) settle(() => resolve(result.data as ControlResult<Op>));
        else
          settle(() =>
            reject(
              new ControlError(
                `${instance} answered ${request.op} in a form this command does not understand.`,
                'version',
              ),
            ),
          );
      } else settle(() => reject(new ControlError(message.message, message.code)));
    };
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxAnswerBytes) {
        settle(() => reject(new ControlError(`${instance} sent an answer over 64 MiB.`, 'too-large')));
        return;
      }
      // Lines are cut as bytes and decoded whole: a chunk may end inside a multi-byte character.
      pending = Buffer.concat([pending, chunk]);
      for (let newline = pending.indexOf(0x0a); newline >= 0 && !settled; newline = pending.indexOf(0x0a)) {
        const raw = pending.subarray(0, newline).toString('utf8');
        pending = pending.subarray(newline + 1);
        handle(raw);
      }
    });
    socket.on('close', () =>
      settle(() =>
        reject(
          new ControlError(
            `${instance} stopped before it answered${request.op === 'watch' ? '' : '; what it was doing may be half done: check with `localizer list`'}.`,
            'unreachable',
          ),
        ),
      ),
    );
    socket.on('error', (error) =>
      settle(() => reject(new ControlError(`Cannot talk to ${instance}: ${error.message}`, 'unreachable'))),
    );
    options.signal?.addEventListener('abort', () =>
      settle(() => reject(new ControlError('The request was abandoned.', 'unreachable'))),
    );
    socket.write(`${JSON.stringify({ v: controlProtocolVersion, ...request })}\n`);
  });
}
