/**
 * One Localizer per state directory. The lock is a file naming the holder (kind, pid and the
 * kernel's start time of that pid), created exclusively. A holder that is gone, or a pid reused
 * by another process, leaves a lock anyone may take over: a crash can never leave it stuck.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { instanceKinds, type InstanceKind } from '../../../shared/control-answers';

const holderSchema = z.object({
  kind: z.enum(instanceKinds),
  pid: z.number().int().positive(),
  /** The process's start time as the OS reports it, so a reused pid is not mistaken for it. */
  startTime: z.string(),
  startedAt: z.string(),
});
export type LockHolder = z.infer<typeof holderSchema>;

/** What a person would call the holder: `the Localizer app (pid 4242)`. */
export function describeHolder(holder: Pick<LockHolder, 'kind' | 'pid'>): string {
  const names: Record<InstanceKind, string> = {
    app: 'the Localizer app',
    harness: 'the Localizer UI preview',
    daemon: '`localizer daemon`',
    foreground: 'a foreground `localizer` command',
  };
  return `${names[holder.kind]} (pid ${String(holder.pid)})`;
}

/** Another instance holds the state directory. */
export class InstanceRunningError extends Error {
  override name = 'InstanceRunningError';
  constructor(
    readonly holder: LockHolder,
    stateDirectory: string,
  ) {
    super(
      `Localizer already runs here: ${describeHolder(holder)} owns ${stateDirectory}. Use it (\`localizer status\`), or stop it first (${holder.kind === 'app' ? 'Quit in the tray' : `Ctrl-C in its terminal, or \`kill ${String(holder.pid)}\``}).`,
    );
  }
}

/** The OS's start time of `pid`, or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces; then the state, and field 22 is the
    // start time in ticks. A zombie (killed, not yet reaped) is gone for our purposes.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return undefined;
  }
  // macOS (no /proc): ps reports the start time to the second.
  try {
    const started = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return started || undefined;
  } catch {
    return undefined;
  }
}

export function lockPath(stateDirectory: string): string {
  return join(stateDirectory, 'instance.lock');
}

/** The live holder of the lock, or undefined when it is free or stale. */
export function readHolder(stateDirectory: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(lockPath(stateDirectory), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = holderSchema.safeParse(safeJson(text));
  if (!parsed.success) return undefined;
  const holder = parsed.data;
  return processStartTime(holder.pid) === holder.startTime ? holder : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface InstanceLock {
  holder: LockHolder;
  /** Frees the lock, if it is still ours. */
  release(): void;
}

/** Takes the lock for this process; throws `InstanceRunningError` while another live one holds it. */
export function acquireInstanceLock(stateDirectory: string, kind: InstanceKind): InstanceLock {
  mkdirSync(stateDirectory, { recursive: true, mode: 0o700 });
  const path = lockPath(stateDirectory);
  const holder: LockHolder = {
    kind,
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    startedAt: new Date().toISOString(),
  };
  // Written whole to a file of our own, then linked into place: the lock is never seen half written.
  const mine = `${path}.${String(process.pid)}`;
  writeFileSync(mine, JSON.stringify(holder), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(mine, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const live = readHolder(stateDirectory);
        if (live) throw new InstanceRunningError(live, stateDirectory);
        // Stale: of the processes that saw it so, one moves it aside, and each tries again.
        const aside = `${path}.stale-${String(process.pid)}`;
        try {
          renameSync(path, aside);
        } catch {
          continue; // Another process moved it first.
        }
        // Between our read and the rename, another instance may have taken the lock: give it back.
        const moved = holderSchema.safeParse(safeJson(readFileSafe(aside)));
        if (moved.success && processStartTime(moved.data.pid) === moved.data.startTime) {
          try {
            linkSync(aside, path);
          } finally {
            rmSync(aside, { force: true });
          }
          throw new InstanceRunningError(moved.data, stateDirectory);
        }
        rmSync(aside, { force: true });
        continue;
      }
      return {
        holder,
        release() {
          const current = safeJson(readFileSafe(path)) as Partial<LockHolder> | undefined;
          if (current?.pid === holder.pid && current.startTime === holder.startTime)
            rmSync(path, { force: true });
        },
      };
    }
  } finally {
    rmSync(mine, { force: true });
  }
  throw new Error(`Could not take the instance lock ${path}; remove it if no Localizer runs.`);
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
