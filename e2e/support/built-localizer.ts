/**
 * The `localizer` command the tests run: the built CLI (`out/main/cli.js`, with the privileged
 * helper beside it), as an installed Localizer runs it, in one node process. The global setup
 * below builds it from the sources once per test run, so it is never stale.
 *
 * Why not the sources through tsx: tsx's loader hooks cost about 1.5 s on every start here (2.8 s
 * against 1.3 s for a command that opens its own instance), and the suite starts the CLI hundreds
 * of times. The built form is also what users run, so its packaging (chunks that find the helper
 * and package.json beside them) is checked by every CLI test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The built CLI; node runs it: `node <builtCli> connect …`. */
export const builtCli = join(projectRoot, 'out/main/cli.js');
/** The built privileged helper, the one the built CLI starts (through sudo when not root). */
export const builtHelper = join(projectRoot, 'out/main/privileged-helper.js');

/** Vitest global setup: builds main (the app, the CLI and the helper) and the rest, as `npm run build` does. */
export default function setup(): void {
  const electronVite = join(projectRoot, 'node_modules/.bin/electron-vite');
  try {
    execFileSync(electronVite, ['build', '--logLevel', 'warn'], { cwd: projectRoot, stdio: 'pipe' });
  } catch (error) {
    const output = (error as { stderr?: Buffer; stdout?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(`Building the CLI for the tests failed (npm run build shows why):\n${output}`);
  }
  if (!existsSync(builtCli) || !existsSync(builtHelper))
    throw new Error(`The build made no ${builtCli} or ${builtHelper}: check electron.vite.config.ts.`);
}
