/**
 * Starts the privileged helper for the CLI: through `sudo` (which asks for the password on the
 * terminal), or directly when already root. It is always a separate process, so the engine dying
 * never leaves names behind. The Electron app launches the same helper through sudo-prompt.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { connectHelper, HelperError, type HelperClient } from './helper-client';
import { prepareHelperSession } from './helper-session';

export interface HelperLaunchOptions {
  /** The program and arguments that run the helper's entry point (node + script, or a wrapper). */
  command: string;
  args: string[];
  /** Root-owned directory for the socket, e.g. /run/localizer. */
  socketDirectory: string;
  /** The loopback range the helper may touch. */
  range: string;
  /** How long the helper outlives its last client, in ms. */
  graceMs?: number;
  /** `sudo` when not root; `direct` runs the command as is (already root, or a test sandbox). */
  elevation: 'sudo' | 'direct';
  /** Where helper output goes (its log is JSON lines on stderr). */
  onLog?: (line: string) => void;
  /** The launch token; a fresh random one by default. Tests pass their own to open raw connections. */
  token?: string;
}

export interface LaunchedHelper {
  client: HelperClient;
  process: ChildProcess;
  session: string;
}

/** Launches the helper and connects to it; rejects with what the helper or sudo said on failure. */
export async function launchHelper(options: HelperLaunchOptions): Promise<LaunchedHelper> {
  const prepared = prepareHelperSession({
    socketDirectory: options.socketDirectory,
    range: options.range,
    ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  const { session, token } = prepared;
  const helperArgs = [...options.args, ...prepared.args];
  const [command, args] =
    options.elevation === 'sudo'
      ? ['sudo', ['--', options.command, ...helperArgs]]
      : [options.command, helperArgs];
  const child = spawn(command, args, { stdio: ['inherit', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const line of chunk.toString().split('\n').filter(Boolean)) options.onLog?.(line);
  });
  try {
    const socketPath = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /localizer-helper ready socket=(\S+)/.exec(stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new HelperError(
            'disconnected',
            error.code === 'ENOENT'
              ? `Cannot start the privileged helper: ${command} is not installed or not on PATH${command === 'sudo' ? '; install sudo (the helper runs as root through it), or run as root' : ''}`
              : `Cannot start the privileged helper: ${error.message}`,
          ),
        ),
      );
      child.once('exit', (code) =>
        reject(
          new HelperError(
            'disconnected',
            `The privileged helper exited (${String(code)}) before it was ready${stderr ? `: ${lastMessage(stderr)}` : ''}. Names and privileged ports stay off until it runs.`,
          ),
        ),
      );
    });
    const client = await connectHelper({ socketPath, token });
    // The helper outlives its last client by a grace period, on its own; the launcher need not
    // wait for it to exit (its log is still read while the launcher runs).
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as Socket).unref();
    return { client, process: child, session };
  } catch (error) {
    child.kill();
    throw error;
  } finally {
    prepared.dispose();
  }
}

function lastMessage(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const last = lines.at(-1) ?? '';
  try {
    return (JSON.parse(last) as { message?: string }).message ?? last;
  } catch {
    return last;
  }
}
