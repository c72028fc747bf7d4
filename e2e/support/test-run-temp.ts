/**
 * Vitest global setup: the whole run gets one temp directory of its own (`TMPDIR`, inherited by
 * every worker and every process a test starts), removed when the run ends. Tests make dozens of
 * scratch directories each (keys, sandboxes, state), and a killed test cannot clean up after
 * itself; this way a run leaves nothing in /tmp either way.
 *
 * The directory is also a marker: a process still carrying it in its environment at the end was
 * left behind by a test (a cluster pod, a daemon, an sshd). Those are killed and named, and the
 * run fails, because the next run on the same machine would trip over them.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesMarked, type ProcessInfo } from './leftovers';
import { pollUntil } from './poll';

/** Short, because Unix socket paths under it are limited to 107 bytes. */
const prefix = 'lzt-';
/** Processes that are already exiting (an sshd finishing its last session) get this long. */
const exitGraceMs = 5_000;

function survivors(root: string): ProcessInfo[] {
  // The marker is matched as `TMPDIR=root`, so this run's own vitest process is never counted.
  return processesMarked(`TMPDIR=${root}`);
}

export default function setup(): () => Promise<void> {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(previous ?? tmpdir(), prefix));
  // Sticky and open to all, as /tmp is: some tests run as an unprivileged user, with this TMPDIR.
  chmodSync(root, 0o1777);
  process.env.TMPDIR = root;

  return async () => {
    // Survivors are named below, so running out of time is not an error here.
    await pollUntil(
      () => survivors(root).length === 0,
      exitGraceMs,
      'the processes of the tests to exit',
    ).catch(() => undefined);
    const left = survivors(root);
    for (const processInfo of left) {
      try {
        process.kill(processInfo.pid, 'SIGKILL');
      } catch {
        // Gone between the listing and the kill.
      }
    }
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
    if (left.length > 0) {
      const names = left.map((p) => `  ${p.pid}: ${p.args.slice(0, 160)}`).join('\n');
      // Vitest reports an error thrown here but still exits 0, so the exit code is set directly.
      console.error(`The tests left ${left.length} process(es) running; they were killed:\n${names}`);
      process.exitCode = 1;
    }
  };
}
