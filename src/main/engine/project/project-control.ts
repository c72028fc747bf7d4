/**
 * A project brought up and down through the running instance, as control requests: what runs
 * now, each plan step carried out, and the undoing of what an `up` made. `localizer up`/`down`
 * and `localizer mcp` share it; the plan itself is `project-plan.ts`.
 */
import { askRunning, requestControl, runningInstance, type ControlAsk } from '../control/control-client';
import { isProcessAlive } from '../expose/expose-records';
import { loadKubeContext } from '../kube/kube-context';
import type { LoadedProject } from './project-file-reader';
import type { KubeSource } from '../../../shared/control-protocol';
import { existsSync } from 'node:fs';
import {
  projectRecordPath,
  readProjectRecord,
  removeProjectRecord,
  writeProjectRecord,
} from './project-records';
import {
  currentFrom,
  describeCommand,
  describeStep,
  describeUndo,
  liveRecord,
  planProject,
  recordAfter,
  type CurrentState,
  type ExposeSpec,
  type PlanStep,
  type ProjectPlan,
  type ProjectRecord,
} from './project-plan';

/** What the instance holds now (nothing when none runs). */
export async function currentState(directory: string): Promise<CurrentState> {
  if (!runningInstance(directory)) return { connectedContexts: [], exposes: [] };
  const [status, list] = await Promise.all([
    requestControl(directory, { op: 'status' }),
    requestControl(directory, { op: 'list' }),
  ]);
  return currentFrom(
    status.contexts.map((c) => c.name),
    list.tunnels,
  );
}

const exposeName = (spec: ExposeSpec): string => `${spec.namespace}/${spec.service}`;

interface StepOptions {
  source: KubeSource;
  ipRange?: string | undefined;
  print: (line: string) => void;
  /** The instance to ask: the running one over its socket, unless `up` is that instance itself. */
  ask?: ControlAsk | undefined;
}

/** Carries out one step through the instance. */
export async function carryOut(
  directory: string,
  step: PlanStep,
  context: string,
  options: StepOptions,
): Promise<void> {
  const { print, source } = options;
  const ask = options.ask ?? askRunning(directory);
  const onProgress = (line: string): void => print(`  ${line}`);
  const expose = (spec: ExposeSpec) =>
    ask(
      {
        op: 'expose',
        source,
        context,
        namespace: spec.namespace,
        service: spec.service,
        mappings: spec.mappings,
        mode: spec.mode,
        ...(spec.header ? { header: spec.header } : {}),
      },
      { onProgress },
    );
  const unexpose = (spec: ExposeSpec, of = context) =>
    ask({
      op: 'unexpose',
      context: of,
      namespace: spec.namespace,
      service: spec.service,
    });
  switch (step.action) {
    case 'reconnect':
    case 'connect': {
      // A reconnect is a disconnect, then a connect with the file's options.
      if (step.action === 'reconnect') await ask({ op: 'disconnect', contexts: [step.context] });
      const answer = await ask(
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
      print((await ask({ op: 'disconnect', contexts: [step.context] })).message);
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

export interface PreparedPlan {
  context: string;
  plan: ProjectPlan;
  /** What this project's last up made that still stands. */
  record: ProjectRecord | undefined;
  /** The record carrying it out starts from: that one, or an empty one. */
  start: ProjectRecord;
  /** The `localizer up` already running the project's processes, if one is. */
  processesElsewhere: ProjectRecord['processesIn'];
  /** The plan as `up` prints it: each step, each process, and what `down` will undo. */
  lines: string[];
  /** Whether carrying it out (processes included) would change anything. */
  changes: boolean;
}

/**
 * The plan for `project` against what runs now. The context is resolved here by name, as the
 * instance will (a missing one is named with the ones there are).
 */
export async function preparePlan(
  directory: string,
  project: LoadedProject,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PreparedPlan> {
  const context = loadKubeContext({
    ...(project.file.context ? { context: project.file.context } : {}),
    env,
  }).name;
  const current = await currentState(directory);
  const record = liveRecord(readProjectRecord(directory, project.path), current);
  const plan = planProject(project.file, context, record, current);
  const after = recordAfter(plan, project.path, record);
  const runs = project.file.run ?? [];
  const elsewhere = record?.processesIn;
  const processesElsewhere =
    elsewhere && elsewhere.pid !== process.pid && isProcessAlive(elsewhere.pid) ? elsewhere : null;
  const processLines = runs.map((entry) =>
    processesElsewhere
      ? `unchanged  ${entry.name} runs in \`localizer up\` (pid ${String(processesElsewhere.pid)})${
          processesElsewhere.commands.includes(describeCommand(entry))
            ? ''
            : ' with an older command: stop that up (Ctrl-C) and run up again to change it'
        }`
      : `run        ${entry.name}: ${describeCommand(entry)} (environment of ${entry.workload}${entry.container ? `, container ${entry.container}` : ''})`,
  );
  const undoLines = describeUndo(after);
  const lines = [
    `Plan for ${project.path}:`,
    ...plan.steps.map((step) => `  ${describeStep(step)}`),
    ...processLines.map((line) => `  ${line}`),
    ...(plan.steps.length === 0 && runs.length === 0
      ? ['  nothing: the file asks for no connect, expose or process']
      : []),
    undoLines.length > 0
      ? `On \`localizer down\` (or Ctrl-C of the \`up\` that runs it): ${undoLines.join('; ')}.`
      : 'On `localizer down`: nothing of the cluster to undo (what this file uses was there before).',
  ];
  return {
    context,
    plan,
    record,
    start: {
      ...(record ?? { file: project.path, context, connected: null, exposes: [] }),
      processesIn: processesElsewhere,
    },
    processesElsewhere,
    lines,
    changes: plan.changes || (runs.length > 0 && !processesElsewhere),
  };
}

/**
 * Carries out `plan`, writing the record after each step, so a failure halfway leaves `down`
 * knowing what was done. Resolves with the record; rejects with the step's error.
 */
/** An up stopped between steps: Ctrl-C (`stopped`), or its record was taken by `down` (`down`). */
export class UpInterruptedError extends Error {
  override name = 'UpInterruptedError';
  constructor(
    readonly why: 'stopped' | 'down',
    /** What this up had made when it stopped: its to undo. */
    readonly made: ProjectRecord,
  ) {
    super(why === 'down' ? 'the project was brought down from elsewhere' : 'stopped');
  }
}

const adds = new Set<PlanStep['action']>(['connect', 'reconnect', 'expose', 're-expose']);

/**
 * Carries out `plan`. The record follows each step, so a failure or a kill halfway leaves `down`
 * knowing what was done: what a step makes is written before it is asked for (what then did not
 * happen is filtered out by `liveRecord`), what it removes after. Between steps it stops on
 * `shouldStop`, and when `down` took the record away since it was last written.
 */
export async function applyPlan(
  directory: string,
  plan: ProjectPlan,
  start: ProjectRecord,
  options: StepOptions & { shouldStop?: () => boolean },
): Promise<ProjectRecord> {
  let state = start;
  const path = projectRecordPath(directory, start.file);
  let written = existsSync(path);
  const note = (next: ProjectRecord): void => {
    if (written && !existsSync(path)) throw new UpInterruptedError('down', next);
    state = next;
    writeProjectRecord(directory, state);
    written = true;
  };
  for (const step of plan.steps) {
    if (options.shouldStop?.()) throw new UpInterruptedError('stopped', state);
    const after = {
      ...recordAfter({ ...plan, steps: [step] }, state.file, state),
      processesIn: state.processesIn,
    };
    if (adds.has(step.action)) note(after);
    await carryOut(directory, step, plan.context, options);
    note(after);
  }
  note(state);
  return state;
}

/** Undoes what `record` says this project made: its exposes, then its connection. */
export async function undoProject(
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
  for (const failure of failures) print(`Could not undo ${failure}. Run \`localizer cleanup\`.`);
  return failures;
}

/**
 * The cluster side of `up` (what the window and an agent bring up; processes need a terminal):
 * the plan for what runs now, carried out. Resolves with the plan it carried out.
 */
export async function bringUp(
  directory: string,
  project: LoadedProject,
  options: { source: KubeSource; env?: NodeJS.ProcessEnv; print: (line: string) => void },
): Promise<PreparedPlan> {
  const prepared = await preparePlan(directory, project, options.env);
  await applyPlan(directory, prepared.plan, prepared.start, options);
  return prepared;
}

/**
 * `down`: undoes what the record of `path` says its up made and removes the record. Resolves
 * with the undoing's failures and the `up` that runs the project's processes, if any (it sees the
 * record go and stops them); undefined when nothing of it is recorded.
 */
export async function bringDown(
  directory: string,
  path: string,
  print: (line: string) => void,
): Promise<{ failures: string[]; processesIn: ProjectRecord['processesIn'] } | undefined> {
  const record = readProjectRecord(directory, path);
  if (!record) return undefined;
  if (!runningInstance(directory)) {
    removeProjectRecord(directory, path, { log: true });
    print(
      `No Localizer runs, so nothing of ${path} is up any more (a Localizer undoes its work when it stops).`,
    );
    return { failures: [], processesIn: null };
  }
  const live = liveRecord(record, await currentState(directory)) ?? record;
  const undoLines = describeUndo(live);
  print(
    `Bringing ${path} down: ${undoLines.length > 0 ? undoLines.join('; ') : 'nothing of the cluster to undo'}.`,
  );
  const failures = await undoProject(directory, live, print);
  removeProjectRecord(directory, path, { log: true });
  return { failures, processesIn: record.processesIn };
}
