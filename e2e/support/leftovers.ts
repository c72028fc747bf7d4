/**
 * Finding processes a test started and may have left behind, from /proc: by what their command
 * line says, or by a marker in their environment (a sandbox's temp directory), which survives
 * `exec` and reaches every child that inherits it.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  /** The command line, arguments joined by spaces. */
  args: string;
  /** The environment, `NAME=value` joined by newlines; undefined where it cannot be read. */
  environ: string | undefined;
  /** The real user id. */
  uid: number | undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replaceAll('\0', '\n');
  } catch {
    return undefined;
  }
}

/** Every live process but this one (zombies included: they still hold their pid). */
export function listProcesses(): ProcessInfo[] {
  const result: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const args = read(`/proc/${entry}/cmdline`);
    if (args === undefined || args === '') continue;
    const uid = /^Uid:\s+(\d+)/m.exec(read(`/proc/${entry}/status`) ?? '')?.[1];
    result.push({
      pid,
      args: args.trimEnd().replaceAll('\n', ' '),
      environ: read(`/proc/${entry}/environ`),
      uid: uid === undefined ? undefined : Number(uid),
    });
  }
  return result;
}

/** The processes whose command line or environment contains `marker`. */
export function processesMarked(marker: string): ProcessInfo[] {
  return listProcesses().filter((p) => p.args.includes(marker) || (p.environ?.includes(marker) ?? false));
}
