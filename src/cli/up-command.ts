/**
 * `localizer up [-f FILE] [--dry-run]` and `localizer down [-f FILE]`: a project file brought up
 * with one command. `up` prints the plan first (what it connects, exposes and runs, and what
 * `down` will undo), then carries it out through the running Localizer, or as a foreground one
 * when none runs. Run twice, it changes nothing; with the file edited, only the difference.
 * `down`, or Ctrl-C of the `up` that runs the processes, undoes what `up` did and nothing else.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { runningInstance } from '../main/engine/control/control-client';
import { isProcessAlive } from '../main/engine/expose/expose-records';
import {
  defaultProjectFileName,
  readProjectFile,
  type LoadedProject,
} from '../main/engine/project/project-file-reader';
import {
  describeCommand,
  describeUndo,
  liveRecord,
  type ProjectRecord,
} from '../main/engine/project/project-plan';
import {
  projectLogPath,
  projectRecordPath,
  readProjectRecord,
  removeProjectRecord,
  writeProjectRecord,
} from '../main/engine/project/project-records';
import {
  applyPlan,
  bringDown,
  currentState,
  preparePlan,
  undoProject,
  UpInterruptedError,
} from '../main/engine/project/project-control';
import { stateDirectory } from '../main/engine/state-directory';
import { startCliInstance, type CliInstance } from './cli-instance';
import { untilStopped } from './stop-signals';
import { kubeSource } from './kube-source';
import { UsageError } from './usage-error';
import { startProcesses, type RunningProcesses } from './project-processes';

/** How often a running `up` looks whether `down` took its project away. */
const recordPollMs = 500;

function projectPath(file: string | undefined): string {
  return resolve(file ?? defaultProjectFileName);
}

export async function runUp(
  args: { file?: string | undefined; dryRun: boolean; detach?: boolean; ipRange?: string | undefined },
  print: (line: string) => void,
): Promise<number> {
  const project = readProjectFile(projectPath(args.file));
  const directory = stateDirectory();
  const { context, plan, start, processesElsewhere, lines, changes } = await preparePlan(directory, project);
  const runs = project.file.run ?? [];
  for (const line of lines) print(line);
  if (args.dryRun) {
    print(changes ? 'Dry run: nothing was changed.' : 'Dry run: everything is up as the file says.');
    return 0;
  }

  if (args.detach) return detach(project, directory, args.ipRange, print);

  // Ctrl-C, SIGTERM or a closed terminal from here on stop the up between steps and undo it.
  const stop = { requested: false };
  const stopped = untilStopped().then(() => {
    stop.requested = true;
    return 'interrupted' as const;
  });
  const running = runningInstance(directory);
  let own: CliInstance | undefined;
  if (!running) {
    own = await startCliInstance('foreground', print);
    print(`No Localizer was running: this command is it, until Ctrl-C or \`localizer down\`.`);
  }
  /** Undoes what this up made that still stands (as the record on disk says, when there is one). */
  const undoMade = async (made: ProjectRecord): Promise<void> => {
    const latest = readProjectRecord(directory, project.path) ?? made;
    const live = liveRecord(
      latest,
      await currentState(directory).catch(() => ({ connectedContexts: [], exposes: [] })),
    );
    // Each failure is said there (undoProject asks per step and never throws).
    if (live) await undoProject(directory, live, print);
    removeProjectRecord(directory, project.path);
  };
  let processes: RunningProcesses | undefined;
  let state: ProjectRecord = start;
  try {
    state = await applyPlan(directory, plan, state, {
      source: kubeSource(undefined),
      ipRange: args.ipRange,
      print,
      // Its own instance is asked as a foreground connect asks its own: what its requests
      // already showed is not printed twice.
      ask: own?.request,
      shouldStop: () => stop.requested,
    });
    if (
      !plan.steps.some((s) => s.action !== 'keep-connection' && s.action !== 'keep-expose') &&
      plan.steps.length > 0
    )
      print('The cluster side is up as the file says; nothing changed.');
    if (runs.length > 0 && !processesElsewhere && !stop.requested) {
      processes = await startProcesses(project, runs, { context, print });
      state = {
        ...(readProjectRecord(directory, project.path) ?? state),
        processesIn: { pid: process.pid, commands: runs.map(describeCommand) },
      };
      writeProjectRecord(directory, state);
    }
  } catch (error) {
    await processes?.stop();
    if (error instanceof UpInterruptedError) {
      print(
        error.why === 'down'
          ? `\`localizer down\` brought ${project.path} down while it came up; undoing the rest…`
          : 'Stopped; undoing what this up did…',
      );
      await undoMade(error.made);
      await own?.close();
      return 0;
    }
    print(
      `Up stopped at an error; \`localizer down\` undoes what was done (${describeUndo(state).join('; ') || 'nothing yet'}).`,
    );
    if (own) {
      removeProjectRecord(directory, project.path);
      await own.close();
    }
    throw error;
  }

  if (!processes && !own) {
    print(
      `Up: ${project.path} runs in ${running?.description ?? 'the running Localizer'}; \`localizer down\` undoes it.`,
    );
    return 0;
  }
  // Held in the foreground: until Ctrl-C, `localizer down` from elsewhere, or every process ends.
  const recordPath = projectRecordPath(directory, project.path);
  let poll: NodeJS.Timeout | undefined;
  const downElsewhere = new Promise<'down'>((resolveDown) => {
    poll = setInterval(() => {
      if (!existsSync(recordPath)) resolveDown('down');
    }, recordPollMs);
  });
  const ended = processes
    ? processes.allExited.then(() => 'processes' as const)
    : new Promise<never>(() => undefined);
  print(
    processes
      ? 'Up. Ctrl-C stops the processes and undoes what this up did.'
      : 'Up. Ctrl-C (or `localizer down`) undoes what this up did.',
  );
  const outcome = await Promise.race([stopped, downElsewhere, ended]);
  clearInterval(poll);
  await processes?.stop();
  if (outcome === 'processes' && !own) {
    // Only that no process runs here any more: another up may have changed the rest since.
    const latest = readProjectRecord(directory, project.path);
    if (latest) writeProjectRecord(directory, { ...latest, processesIn: null });
    print('Every process ended. The connection and exposes stay; `localizer down` undoes them.');
    return 0;
  }
  if (outcome !== 'down') {
    print('Undoing what this up did…');
    await undoMade(state);
  } else print(`\`localizer down\` brought ${project.path} down.`);
  await own?.close();
  return 0;
}

/** How long a detached up may take to come up before this command stops waiting for it. */
const detachWaitMs = 180_000;

/**
 * `up --detach`: the same up, in a process of its own session that outlives this terminal, its
 * output in a log beside the project's record. Returns once it is up (or says why it is not);
 * `localizer down` stops it.
 */
async function detach(
  project: LoadedProject,
  directory: string,
  ipRange: string | undefined,
  print: (line: string) => void,
): Promise<number> {
  const { path } = project;
  // A background up that becomes the Localizer cannot ask for sudo's password for names.
  if (
    !runningInstance(directory) &&
    project.file.connect &&
    project.file.connect.names !== false &&
    process.getuid?.() !== 0
  )
    throw new UsageError(
      'up --detach cannot ask for the password that names in /etc/hosts need: start the app or `localizer daemon` first (it asks once), or set `names: false` under connect in the file.',
    );
  const log = projectLogPath(directory, path);
  mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
  const output = openSync(log, 'w', 0o600);
  const script = process.argv[1] ?? '';
  const child = spawn(
    process.execPath,
    [...process.execArgv, script, 'up', '-f', path, ...(ipRange ? ['--ip-range', ipRange] : [])],
    { detached: true, stdio: ['ignore', output, output], env: process.env },
  );
  closeSync(output);
  child.unref();
  // Set from the exit handler (an object, so the loop below reads it fresh).
  const ended: { code: number | null } = { code: null };
  child.once('exit', (code) => (ended.code = code ?? 1));
  const deadline = Date.now() + detachWaitMs;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    if (/^Up[.:]/m.test(text)) {
      print(
        `Up in the background (pid ${String(child.pid)}); its output goes to ${log}. \`localizer down -f ${path}\` stops it.`,
      );
      return 0;
    }
    if (ended.code !== null || Date.now() > deadline) {
      print(text.trimEnd());
      if (ended.code !== null) rmSync(log, { force: true });
      print(
        ended.code !== null
          ? `The background up ended (exit ${String(ended.code)}) before it was up; its output is above.`
          : `The background up (pid ${String(child.pid)}) is not up after ${String(detachWaitMs / 1000)} s; its output is above and in ${log}.`,
      );
      return 1;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  }
}

export async function runDown(
  args: { file?: string | undefined },
  print: (line: string) => void,
): Promise<number> {
  const path = projectPath(args.file);
  const down = await bringDown(stateDirectory(), path, print);
  if (!down) {
    print(`Nothing to bring down: no \`localizer up\` of ${path} is recorded here.`);
    return 0;
  }
  // The up that runs the processes sees its record go, stops them and ends: wait for it.
  const holder = down.processesIn;
  if (holder && holder.pid !== process.pid && isProcessAlive(holder.pid)) {
    print(`Stopping the processes of \`localizer up\` (pid ${String(holder.pid)})…`);
    const deadline = Date.now() + 15_000;
    while (isProcessAlive(holder.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
  print(down.failures.length > 0 ? 'Down, with the failures above.' : `Down: ${path} is undone.`);
  return down.failures.length > 0 ? 1 : 0;
}
