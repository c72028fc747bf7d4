/**
 * `localizer up [-f FILE] [--dry-run]` and `localizer down [-f FILE]`: a project file brought up
 * with one command. `up` prints the plan first (what it connects, exposes and runs, and what
 * `down` will undo), then carries it out through the running Localizer, or as a foreground one
 * when none runs. Run twice, it changes nothing; with the file edited, only the difference.
 * `down`, or Ctrl-C of the `up` that runs the processes, undoes what `up` did and nothing else.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ControlError, requestControl, runningInstance } from '../main/engine/control/control-client';
import { isProcessAlive } from '../main/engine/expose/expose-records';
import { loadKubeContext } from '../main/engine/kube/kube-context';
import {
  defaultProjectFileName,
  readProjectFile,
  type LoadedProject,
} from '../main/engine/project/project-file-reader';
import {
  describeStep,
  describeUndo,
  liveRecord,
  planProject,
  recordAfter,
  type CurrentState,
  type ExposeSpec,
  type PlanStep,
  type ProjectRecord,
} from '../main/engine/project/project-plan';
import {
  projectRecordPath,
  readProjectRecord,
  removeProjectRecord,
  writeProjectRecord,
} from '../main/engine/project/project-records';
import { stateDirectory } from '../main/engine/state-directory';
import { startCliInstance, untilStopped, type CliInstance } from './cli-instance';
import { kubeSource } from './kube-source';
import { describeCommand, startProcesses, type RunningProcesses } from './project-processes';

/** How often a running `up` looks whether `down` took its project away. */
const recordPollMs = 500;

function projectPath(file: string | undefined): string {
  return resolve(file ?? defaultProjectFileName);
}

async function currentState(directory: string): Promise<CurrentState> {
  if (!runningInstance(directory)) return { connectedContexts: [], exposes: [] };
  const [status, list] = await Promise.all([
    requestControl(directory, { op: 'status' }),
    requestControl(directory, { op: 'list' }),
  ]);
  return {
    connectedContexts: status.contexts.map((c) => c.name),
    exposes: list.tunnels
      .filter((t) => t.kind === 'expose')
      .map((t) => ({ context: t.context, namespace: t.namespace, service: t.name })),
  };
}

const exposeName = (spec: ExposeSpec): string => `${spec.namespace}/${spec.service}`;

/** Carries out one step through the instance. */
async function carryOut(
  directory: string,
  step: PlanStep,
  context: string,
  options: { ipRange?: string | undefined; print: (line: string) => void },
): Promise<void> {
  const { print } = options;
  const source = kubeSource(undefined);
  const onProgress = (line: string): void => print(`  ${line}`);
  const expose = (spec: ExposeSpec) =>
    requestControl(
      directory,
      {
        op: 'expose',
        source,
        context,
        namespace: spec.namespace,
        service: spec.service,
        mappings: spec.mappings,
        mode: spec.mode,
      },
      { onProgress },
    );
  const unexpose = (spec: ExposeSpec, of = context) =>
    requestControl(directory, {
      op: 'unexpose',
      context: of,
      namespace: spec.namespace,
      service: spec.service,
    });
  switch (step.action) {
    case 'reconnect':
    case 'connect': {
      // A reconnect is a disconnect, then a connect with the file's options.
      if (step.action === 'reconnect')
        await requestControl(directory, { op: 'disconnect', contexts: [step.context] });
      const answer = await requestControl(
        directory,
        {
          op: 'connect',
          source,
          contexts: [step.context],
          names: step.spec.names,
          ...(options.ipRange ? { ipRange: options.ipRange } : {}),
          ...(step.spec.namespaces.length > 0 ? { namespaces: step.spec.namespaces } : {}),
          ...(step.spec.excludeNamespaces.length > 0
            ? { excludeNamespaces: step.spec.excludeNamespaces }
            : {}),
        },
        { onProgress },
      );
      print(answer.message);
      return;
    }
    case 'disconnect':
      print((await requestControl(directory, { op: 'disconnect', contexts: [step.context] })).message);
      return;
    case 're-expose':
      await unexpose(step.spec);
      print((await expose(step.spec)).message);
      return;
    case 'expose':
      print((await expose(step.spec)).message);
      return;
    case 'unexpose':
      print((await unexpose(step.spec, step.context)).message);
      return;
    case 'keep-connection':
    case 'keep-expose':
      return;
  }
}

/** Undoes what `record` says this project made: its exposes, then its connection. */
async function undo(
  directory: string,
  record: ProjectRecord,
  print: (line: string) => void,
): Promise<string[]> {
  const failures: string[] = [];
  for (const spec of record.exposes) {
    try {
      const answer = await requestControl(directory, {
        op: 'unexpose',
        context: record.context,
        namespace: spec.namespace,
        service: spec.service,
      });
      print(answer.message);
    } catch (error) {
      failures.push(`${exposeName(spec)}: ${(error as Error).message}`);
    }
  }
  if (record.connected) {
    try {
      print((await requestControl(directory, { op: 'disconnect', contexts: [record.context] })).message);
    } catch (error) {
      failures.push(`${record.context}: ${(error as Error).message}`);
    }
  }
  return failures;
}

function printPlan(
  project: LoadedProject,
  steps: readonly PlanStep[],
  undoLines: readonly string[],
  processes: string[],
  print: (line: string) => void,
): void {
  print(`Plan for ${project.path}:`);
  for (const step of steps) print(`  ${describeStep(step)}`);
  for (const line of processes) print(`  ${line}`);
  if (steps.length === 0 && processes.length === 0)
    print('  nothing: the file asks for no connect, expose or process');
  print(
    undoLines.length > 0
      ? `On \`localizer down\` (or Ctrl-C of the \`up\` that runs it): ${undoLines.join('; ')}.`
      : 'On `localizer down`: nothing of the cluster to undo (what this file uses was there before).',
  );
}

export async function runUp(
  args: { file?: string | undefined; dryRun: boolean; ipRange?: string | undefined },
  print: (line: string) => void,
): Promise<number> {
  const project = readProjectFile(projectPath(args.file));
  const directory = stateDirectory();
  // The context by name, as the instance will resolve it (a missing one is named here, with the ones there are).
  const context = loadKubeContext(project.file.context ? { context: project.file.context } : {}).name;
  const current = await currentState(directory);
  const record = liveRecord(readProjectRecord(directory, project.path), current);
  const plan = planProject(project.file, context, record, current);
  const after = recordAfter(plan, project.path, record);
  const runs = project.file.run ?? [];
  const processesElsewhere =
    record?.processesIn && record.processesIn.pid !== process.pid && isProcessAlive(record.processesIn.pid)
      ? record.processesIn
      : undefined;
  const processLines = runs.map((entry) =>
    processesElsewhere
      ? `unchanged  ${entry.name} runs in \`localizer up\` (pid ${String(processesElsewhere.pid)})${
          processesElsewhere.commands.includes(describeCommand(entry))
            ? ''
            : ' with an older command: stop that up (Ctrl-C) and run up again to change it'
        }`
      : `run        ${entry.name}: ${describeCommand(entry)} (environment of ${entry.workload}${entry.container ? `, container ${entry.container}` : ''})`,
  );
  printPlan(project, plan.steps, describeUndo(after), processLines, print);
  if (args.dryRun) {
    print(
      plan.changes || (runs.length > 0 && !processesElsewhere)
        ? 'Dry run: nothing was changed.'
        : 'Dry run: everything is up as the file says.',
    );
    return 0;
  }

  const running = runningInstance(directory);
  let own: CliInstance | undefined;
  if (!running) {
    own = await startCliInstance('foreground', print);
    print(`No Localizer was running: this command is it, until Ctrl-C or \`localizer down\`.`);
  }
  let processes: RunningProcesses | undefined;
  let state: ProjectRecord = {
    ...(record ?? { file: project.path, context, connected: null, exposes: [] }),
    processesIn: processesElsewhere ?? null,
  };
  try {
    // The record follows each step, so a failure halfway leaves `down` knowing what was done.
    for (const step of plan.steps) {
      await carryOut(directory, step, context, { ipRange: args.ipRange, print });
      state = {
        ...recordAfter({ ...plan, steps: [step] }, project.path, state),
        processesIn: state.processesIn,
      };
      writeProjectRecord(directory, state);
    }
    if (
      !plan.steps.some((s) => s.action !== 'keep-connection' && s.action !== 'keep-expose') &&
      plan.steps.length > 0
    )
      print('The cluster side is up as the file says; nothing changed.');
    writeProjectRecord(directory, state);
    if (runs.length > 0 && !processesElsewhere) {
      processes = await startProcesses(project, runs, { context, print });
      state = { ...state, processesIn: { pid: process.pid, commands: runs.map(describeCommand) } };
      writeProjectRecord(directory, state);
    }
  } catch (error) {
    await processes?.stop();
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
  const outcome = await Promise.race([
    untilStopped().then(() => 'interrupted' as const),
    downElsewhere,
    ended,
  ]);
  clearInterval(poll);
  await processes?.stop();
  if (outcome === 'processes' && !own) {
    state = { ...state, processesIn: null };
    writeProjectRecord(directory, state);
    print('Every process ended. The connection and exposes stay; `localizer down` undoes them.');
    return 0;
  }
  if (outcome !== 'down') {
    print('Undoing what this up did…');
    const failures = await undo(directory, state, print).catch((error: unknown) => {
      if (error instanceof ControlError) return [error.message];
      throw error;
    });
    removeProjectRecord(directory, project.path);
    for (const failure of failures) print(`Could not undo ${failure}. Run \`localizer cleanup\`.`);
  } else print(`\`localizer down\` brought ${project.path} down.`);
  await own?.close();
  return 0;
}

export async function runDown(
  args: { file?: string | undefined },
  print: (line: string) => void,
): Promise<number> {
  const path = projectPath(args.file);
  const directory = stateDirectory();
  const record = readProjectRecord(directory, path);
  if (!record) {
    print(`Nothing to bring down: no \`localizer up\` of ${path} is recorded here.`);
    return 0;
  }
  if (!runningInstance(directory)) {
    removeProjectRecord(directory, path);
    print(
      `No Localizer runs, so nothing of ${path} is up any more (a Localizer undoes its work when it stops).`,
    );
    return 0;
  }
  const live = liveRecord(record, await currentState(directory)) ?? record;
  const undoLines = describeUndo(live);
  print(
    `Bringing ${path} down: ${undoLines.length > 0 ? undoLines.join('; ') : 'nothing of the cluster to undo'}.`,
  );
  const failures = await undo(directory, live, print);
  removeProjectRecord(directory, path);
  // The up that runs the processes sees its record go, stops them and ends: wait for it.
  const holder = record.processesIn;
  if (holder && holder.pid !== process.pid && isProcessAlive(holder.pid)) {
    print(`Stopping the processes of \`localizer up\` (pid ${String(holder.pid)})…`);
    const deadline = Date.now() + 15_000;
    while (isProcessAlive(holder.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
  for (const failure of failures) print(`Could not undo ${failure}. Run \`localizer cleanup\`.`);
  print(failures.length > 0 ? 'Down, with the failures above.' : `Down: ${path} is undone.`);
  return failures.length > 0 ? 1 : 0;
}
