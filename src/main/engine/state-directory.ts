/** Where Localizer keeps its state (addresses, control socket): `LOCALIZER_STATE_DIR`, or the platform's place. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOCALIZER_STATE_DIR) return env.LOCALIZER_STATE_DIR;
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Localizer');
  return join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'localizer');
}
