/**
 * Starting the privileged helper from the app: one password prompt per session through
 * @vscode/sudo-prompt (pkexec on Linux, the system dialog on macOS), running the app's own binary
 * as Node. sudo-prompt reports only when the command ends, so readiness is the socket appearing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sudo from '@vscode/sudo-prompt';
import { connectHelper, HelperError, type HelperClient } from './engine/helper/helper-client';

/** Quotes one argument for the POSIX shell sudo-prompt runs the command in. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** The command line root is asked to run; `ELECTRON_RUN_AS_NODE` makes the app binary a plain Node. */
export function elevatedCommand(options: {
  executable: string;
  helperScript: string;
  args: string[];
}): string {
  return ['ELECTRON_RUN_AS_NODE=1', options.executable, options.helperScript, ...options.args]
    .map((part, index) => (index === 0 ? part : shellQuote(part)))
    .join(' ');
}

export interface ElevatedHelper {
  client: HelperClient;
  session: string;
}

/**
 * Asks the user for permission and connects. Rejects with a `HelperError` whose message says
 * what happened (declined, or the helper failed) and that names stay disabled until it runs.
 */
export async function launchElevatedHelper(options: {
  executable: string;
  helperScript: string;
  socketDirectory: string;
  range: string;
  timeoutMs?: number;
}): Promise<ElevatedHelper> {
  const session = `s-${randomBytes(6).toString('hex')}`;
  const token = randomBytes(32).toString('base64url');
  const tokenDirectory = mkdtempSync(join(tmpdir(), 'localizer-helper-'));
  const tokenFile = join(tokenDirectory, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const command = elevatedCommand({
    executable: options.executable,
    helperScript: options.helperScript,
    args: [
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
    ],
  });
  let failed: HelperError | undefined;
  sudo.exec(command, { name: 'Localizer' }, (error) => {
    if (error) {
      failed = new HelperError(
        'disconnected',
        /did not grant|dismissed|cancel/i.test(error.message)
          ? 'Permission to edit /etc/hosts was declined, so cluster names are disabled. Connect again to be asked again.'
          : `The privileged helper could not start (${error.message}); cluster names are disabled.`,
      );
    }
  });
  const socketPath = join(options.socketDirectory, `${session}.sock`);
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  try {
    for (;;) {
      if (failed) throw failed;
      try {
        return { client: await connectHelper({ socketPath, token }), session };
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    rmSync(tokenDirectory, { recursive: true, force: true });
  }
}
