/**
 * Starting the privileged helper from the app: one password prompt per session through
 * @vscode/sudo-prompt (pkexec on Linux, the system dialog on macOS), running the app's own binary
 * as Node. sudo-prompt reports only when the command ends, so readiness is the socket appearing.
 */
import sudo from '@vscode/sudo-prompt';
import { connectHelper, HelperError, type HelperClient } from './engine/helper/helper-client';
import { prepareHelperSession } from './engine/helper/helper-session';

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
  /**
   * Runs `command` as root and calls back when it ends: sudo-prompt (pkexec, or the macOS
   * dialog, running it through a shell with its output captured) by default; tests pass the
   * same shape already running as root.
   */
  runAsRoot?: (command: string, done: (error?: Error | null) => void) => void;
}): Promise<ElevatedHelper> {
  const prepared = prepareHelperSession({ socketDirectory: options.socketDirectory, range: options.range });
  const { session, token, socketPath } = prepared;
  const command = elevatedCommand({
    executable: options.executable,
    helperScript: options.helperScript,
    args: prepared.args,
  });
  let failed: HelperError | undefined;
  const runAsRoot =
    options.runAsRoot ??
    ((line: string, done: (error?: Error | null) => void) =>
      sudo.exec(line, { name: 'Localizer' }, (error) => done(error)));
  runAsRoot(command, (error) => {
    if (error) {
      failed = new HelperError(
        'disconnected',
        /did not grant|dismissed|cancel/i.test(error.message)
          ? 'Permission to edit /etc/hosts was declined, so cluster names are disabled. Connect again to be asked again.'
          : `The privileged helper could not start (${error.message}); cluster names are disabled.`,
      );
    }
  });
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
    prepared.dispose();
  }
}
