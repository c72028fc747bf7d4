/**
 * The `run:` entries of a project file, as `localizer up` runs them: each with its workload's
 * environment (and volume files), in its own process group, its output prefixed by its name as
 * compose does. One that exits is reported; the others go on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadedProject } from '../main/engine/project/project-file-reader';
import type { ProjectFile } from '../shared/project-file';
import { prepareEnvironment } from './env-command';
import { describeCommand } from '../main/engine/project/project-plan';

type RunEntry = NonNullable<ProjectFile['run']>[number];

/** How long a process has to end after SIGTERM before it gets SIGKILL. */
const stopGraceMs = 5_000;

export interface RunningProcesses {
  /** Resolves once every process has exited (by itself or stopped). */
  allExited: Promise<void>;
  /** SIGTERM to each process group, SIGKILL after the grace; resolves once all have exited. */
  stop(): Promise<void>;
}

/** Starts every entry; throws (after stopping the ones started) if one cannot get its environment. */
export async function startProcesses(
  project: LoadedProject,
  entries: readonly RunEntry[],
  options: { context: string; print: (line: string) => void },
): Promise<RunningProcesses> {
  const width = Math.max(...entries.map((e) => e.name.length));
  const started: { child: ChildProcess; exited: Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const { child } of started) signalGroup(child, 'SIGTERM');
    const killLater = setTimeout(() => {
      for (const { child } of started) signalGroup(child, 'SIGKILL');
    }, stopGraceMs);
    await Promise.all(started.map((s) => s.exited));
    clearTimeout(killLater);
  };
  for (const entry of entries) {
    const prefix = `${entry.name.padEnd(width)} | `;
    const say = (line: string): void => options.print(`${prefix}${line}`);
    let prepared: Awaited<ReturnType<typeof prepareEnvironment>>;
    try {
      prepared = await prepareEnvironment(
        {
          target: entry.workload,
          context: options.context,
          ...(entry.container ? { container: entry.container } : {}),
          ...(entry.files ? { filesDirectory: resolve(project.directory, entry.files) } : {}),
        },
        say,
      );
    } catch (error) {
      await stopAll();
      throw error;
    }
    const cwd = resolve(project.directory, entry.workingDirectory ?? '.');
    // Its own process group, so a stop reaches what a shell command started too.
    const child =
      typeof entry.command === 'string'
        ? spawn(entry.command, {
            shell: true,
            cwd,
            env: prepared.env,
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe'],
          })
        : spawn(entry.command[0] ?? '', entry.command.slice(1), {
            cwd,
            env: prepared.env,
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', say);
    const exited = new Promise<void>((resolveExit) => {
      child.once('error', (error) => {
        prepared.removeFiles();
        say(`cannot start \`${describeCommand(entry)}\` in ${cwd}: ${error.message}`);
        resolveExit();
      });
      child.once('exit', (code, signal) => {
        prepared.removeFiles();
        say(signal ? `stopped (${signal})` : `exited with code ${String(code)}`);
        resolveExit();
      });
    });
    say(
      `started \`${describeCommand(entry)}\` (pid ${String(child.pid ?? '?')}) with the environment of ${entry.workload}`,
    );
    started.push({ child, exited });
  }
  return { allExited: Promise.all(started.map((s) => s.exited)).then(() => undefined), stop: stopAll };
}

/** The whole group, even once its leader has ended: what a shell started in the background is in it. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}
