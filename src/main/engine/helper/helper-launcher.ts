/**
 * Starts the privileged helper for the CLI: through `sudo` (which asks for the password on the
 * terminal), or directly when already root. It is always a separate process, so the engine dying
 * never leaves names behind. The Electron app launches the same helper through sudo-prompt.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectHelper, HelperError, type HelperClient } from './helper-client';

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
  const session = `s-${randomBytes(6).toString('hex')}`;
  const token = options.token ?? randomBytes(32).toString('base64url');
  const tokenDirectory = mkdtempSync(join(tmpdir(), 'localizer-helper-'));
  const tokenFile = join(tokenDirectory, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const helperArgs = [
    ...options.args,
    '--session',
    session,
    '--socket-dir',
    options.socketDirectory,
    '--owner-uid',
    String(process.getuid?.() ?? 0),
    '--owner-gid',
    String(process.getgid?.() ?? 0),
    '--token-file',
    tokenFile,
    '--range',
    options.range,
    '--grace-ms',
    String(options.graceMs ?? 3000),
  ];
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
      child.once('error', (error) =>
        reject(new HelperError('disconnected', `Cannot start the privileged helper: ${error.message}`)),
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
    return { client, process: child, session };
  } catch (error) {
    child.kill();
    throw error;
  } finally {
    rmSync(tokenDirectory, { recursive: true, force: true });
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
