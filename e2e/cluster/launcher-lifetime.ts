/**
 * A foreground cluster (or demo) lives exactly as long as whatever launched it. `npm run X`
 * starts `sh -c`, which starts tsx, which starts node: a signal to npm alone (`kill PID`,
 * `timeout`, a closed terminal) ends npm and sh, and leaves tsx and the cluster running, with
 * every pod holding its address. So the cluster notes the launchers above it at start and stops
 * when any of them is gone.
 */
import { readFileSync } from 'node:fs';

interface ProcessIdentity {
  pid: number;
  /** The kernel's start time of the process (clock ticks since boot), so a reused pid is not it. */
  startTime: string;
}

function readStat(pid: number): { ppid: number; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces; the fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** npm, npx, tsx and the `sh -c` npm runs scripts in: the processes between a user and us. */
function isLauncher(args: string): boolean {
  return /(^|\/)(npm|npx)(-cli\.js)?( |$)|npm-cli\.js|(^|\/)tsx( |$)|\/\.bin\/tsx |tsx\/dist\/cli|^(\/bin\/|\/usr\/bin\/)?(ba|da)?sh -c /.test(
    args,
  );
}

/** Our parent, and each launcher above it up to the first process that is not one. */
function launcherChain(): ProcessIdentity[] {
  const chain: ProcessIdentity[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    const stat = readStat(pid);
    if (!stat) break;
    // The direct parent always counts: it is what started us.
    if (depth > 0 && !isLauncher(commandLine(pid))) break;
    chain.push({ pid, startTime: stat.startTime });
    pid = stat.ppid;
  }
  return chain;
}

function isGone(identity: ProcessIdentity): boolean {
  const stat = readStat(identity.pid);
  return !stat || stat.startTime !== identity.startTime;
}

/**
 * Calls `onGone` once, as soon as a launcher above this process is gone or the terminal hangs
 * up. Where /proc is missing (macOS), watches the direct parent through `process.ppid`.
 * Returns a function that stops watching.
 */
export function stopWithLauncher(onGone: (why: string) => void, intervalMs = 250): () => void {
  let done = false;
  const fire = (why: string): void => {
    if (done) return;
    done = true;
    clearInterval(timer);
    onGone(why);
  };
  const chain = launcherChain();
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (chain.length === 0) {
      if (process.ppid !== parent) fire('the process that started it exited');
      return;
    }
    const gone = chain.find(isGone);
    if (gone) fire(`its launcher (pid ${String(gone.pid)}) exited`);
  }, intervalMs);
  timer.unref();
  const onHangUp = (): void => fire('the terminal hung up');
  process.once('SIGHUP', onHangUp);
  return () => {
    done = true;
    clearInterval(timer);
    process.off('SIGHUP', onHangUp);
  };
}
