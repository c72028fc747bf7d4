/**
 * What every launch of the privileged helper needs, however it is elevated (sudo, sudo-prompt, or
 * already root): a session name, a token handed over in a file only the user and root can read,
 * and the command-line arguments naming them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface HelperSession {
  session: string;
  token: string;
  /** Arguments for the helper's entry point. */
  args: string[];
  /** The socket the helper will listen on. */
  socketPath: string;
  /** Removes the token file (the helper deletes it too, once read). */
  dispose: () => void;
}

export function prepareHelperSession(options: {
  socketDirectory: string;
  range: string;
  graceMs?: number;
  token?: string;
}): HelperSession {
  const session = `s-${randomBytes(6).toString('hex')}`;
  const token = options.token ?? randomBytes(32).toString('base64url');
  const tokenDirectory = mkdtempSync(join(tmpdir(), 'localizer-helper-'));
  const tokenFile = join(tokenDirectory, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  return {
    session,
    token,
    socketPath: join(options.socketDirectory, `${session}.sock`),
    args: [
      ...['--session', session, '--socket-dir', options.socketDirectory],
      ...['--owner-uid', String(process.getuid?.() ?? 0), '--owner-gid', String(process.getgid?.() ?? 0)],
      ...['--token-file', tokenFile, '--range', options.range, '--grace-ms', String(options.graceMs ?? 3000)],
    ],
    dispose: () => rmSync(tokenDirectory, { recursive: true, force: true }),
  };
}
