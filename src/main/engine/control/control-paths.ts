import { join } from 'node:path';

/** The control socket of the instance that owns `stateDirectory`. */
export function controlSocketPath(stateDirectory: string): string {
  return join(stateDirectory, 'control.sock');
}
