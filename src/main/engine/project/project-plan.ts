/**
 * What `localizer up` will change, as a pure function of three things: the project file, what the
 * last `up` of that file did (its record), and what runs now. The same plan is printed first,
 * printed alone by `--dry-run` (then it is the drift), and carried out step by step. Only what
 * an `up` of this file made is ever undone: a context or an expose that was there before stays.
 */
import { parseRouteHeader, type ExposeMode } from '../../../shared/tunnel-status';
import type { ProjectFile } from '../../../shared/project-file';

export interface ExposeSpec {
  namespace: string;
  service: string;
  mappings: { localPort: number; remote: string | number }[];
  mode: ExposeMode;
  /** A personal intercept's header and value. */
  header?: { name: string; value: string };
}

export interface ConnectSpec {
  namespaces: string[];
  excludeNamespaces: string[];
  names: boolean;
}

/** What an `up` of one project file did, kept in the state directory until `down`. */
export interface ProjectRecord {
  /** The project file's absolute path. */
  file: string;
  context: string;
  /** The context was connected by this project's `up` (else it was connected before, and stays). */
  connected: ConnectSpec | null;
  /** The exposes this project's `up` made. */
  exposes: ExposeSpec[];
  /** The `localizer up` that runs the project's processes, while it runs. */
  processesIn: { pid: number; commands: string[] } | null;
}

export interface CurrentState {
  connectedContexts: readonly string[];
  exposes: readonly { context: string; namespace: string; service: string }[];
}

/** What runs now, from the connected contexts and the tunnel list (its exposes). */
export function currentFrom(
  connectedContexts: readonly string[],
  tunnels: readonly { kind: string; context: string; namespace: string; name: string }[],
): CurrentState {
  return {
    connectedContexts,
    exposes: tunnels
      .filter((t) => t.kind === 'expose')
      .map((t) => ({ context: t.context, namespace: t.namespace, service: t.name })),
  };
}

export type PlanStep =
  | { action: 'connect'; context: string; spec: ConnectSpec }
  | { action: 'reconnect'; context: string; spec: ConnectSpec; why: string }
  | { action: 'disconnect'; context: string; why: string }
  | { action: 'keep-connection'; context: string; ours: boolean }
  | { action: 'expose'; spec: ExposeSpec }
  | { action: 're-expose'; spec: ExposeSpec; why: string }
  /** `context`: another context's (a project moved), else the plan's. */
  | { action: 'unexpose'; spec: ExposeSpec; why: string; context?: string }
  | { action: 'keep-expose'; spec: ExposeSpec; ours: boolean };

export interface ProjectPlan {
  context: string;
  steps: PlanStep[];
  /** Whether anything changes (keeps change nothing). */
  changes: boolean;
}

export function connectSpec(file: ProjectFile): ConnectSpec | null {
  if (!file.connect) return null;
  return {
    namespaces: file.connect.namespaces ?? [],
    excludeNamespaces: file.connect.excludeNamespaces ?? [],
    names: file.connect.names ?? true,
  };
}

export function exposeSpecs(file: ProjectFile): ExposeSpec[] {
  return (file.exposes ?? []).map((expose) => {
    const [namespace = '', service = ''] = expose.service.split('/');
    return {
      namespace,
      service,
      mappings: (expose.map ?? []).map((mapping) => {
        const [local = '', remote = ''] = mapping.split(':');
        return { localPort: Number(local), remote: /^\d+$/.test(remote) ? Number(remote) : remote };
      }),
      mode: expose.header ? 'personal' : (expose.mode ?? 'takeover'),
      // The file's reader checked it: NAME=VALUE.
      ...(expose.header ? { header: parseRouteHeader(expose.header) } : {}),
    };
  });
}

const sameConnect = (a: ConnectSpec, b: ConnectSpec): boolean => JSON.stringify(a) === JSON.stringify(b);
const sameExpose = (a: ExposeSpec, b: ExposeSpec): boolean =>
  a.mode === b.mode &&
  JSON.stringify(a.mappings) === JSON.stringify(b.mappings) &&
  JSON.stringify(a.header ?? null) === JSON.stringify(b.header ?? null);
const exposeKey = (e: { namespace: string; service: string }): string => `${e.namespace}/${e.service}`;

/**
 * The part of a record that still stands: what the instance undid since (it was stopped, or the
 * expose ended by itself) is not this project's to undo any more.
 */
export function liveRecord(
  record: ProjectRecord | undefined,
  current: CurrentState,
): ProjectRecord | undefined {
  if (!record) return undefined;
  const exposedNow = new Set(current.exposes.filter((e) => e.context === record.context).map(exposeKey));
  return {
    ...record,
    connected: current.connectedContexts.includes(record.context) ? record.connected : null,
    exposes: record.exposes.filter((e) => exposedNow.has(exposeKey(e))),
  };
}

/** The plan to go from `current` (and what the last up did, `record`) to `file` on `context`. */
export function planProject(
  file: ProjectFile,
  context: string,
  record: ProjectRecord | undefined,
  current: CurrentState,
): ProjectPlan {
  const steps: PlanStep[] = [];
  const wanted = connectSpec(file);
  // A record of another context (the file's context changed): all it made is undone.
  const previous = record && record.context === context ? record : undefined;
  if (record && record.context !== context) {
    for (const spec of record.exposes)
      steps.push({
        action: 'unexpose',
        spec,
        why: `the project moved from context ${record.context} to ${context}`,
        context: record.context,
      });
    if (record.connected)
      steps.push({
        action: 'disconnect',
        context: record.context,
        why: `the project moved from context ${record.context} to ${context}`,
      });
  }

  const connected = current.connectedContexts.includes(context);
  /** A disconnect of the context ends its exposes too: they are made again after it. */
  let endsExposes = false;
  if (wanted) {
    if (!connected) steps.push({ action: 'connect', context, spec: wanted });
    else if (previous?.connected && !sameConnect(previous.connected, wanted)) {
      endsExposes = true;
      steps.push({
        action: 'reconnect',
        context,
        spec: wanted,
        why: 'its namespaces or names changed in the file',
      });
    } else steps.push({ action: 'keep-connection', context, ours: previous?.connected != null });
  } else if (previous?.connected && connected) {
    endsExposes = true;
    steps.push({ action: 'disconnect', context, why: 'the file no longer connects it' });
  }

  const exposedNow = new Set(current.exposes.filter((e) => e.context === context).map(exposeKey));
  const madeBefore = new Map((previous?.exposes ?? []).map((e) => [exposeKey(e), e]));
  const desired = exposeSpecs(file);
  const desiredKeys = new Set(desired.map(exposeKey));
  // Exposes this project made and no longer wants go first: their ports may be reused below.
  for (const [key, spec] of madeBefore)
    if (!desiredKeys.has(key) && exposedNow.has(key) && !endsExposes)
      steps.push({ action: 'unexpose', spec, why: 'it is no longer in the file' });
  for (const spec of desired) {
    const key = exposeKey(spec);
    const before = madeBefore.get(key);
    if (!exposedNow.has(key) || endsExposes) steps.push({ action: 'expose', spec });
    else if (before && !sameExpose(before, spec))
      steps.push({ action: 're-expose', spec, why: 'its port mappings, mode or header changed in the file' });
    else steps.push({ action: 'keep-expose', spec, ours: before !== undefined });
  }
  return {
    context,
    steps,
    changes: steps.some((s) => s.action !== 'keep-connection' && s.action !== 'keep-expose'),
  };
}

/** What the record will hold once `plan` is carried out. */
export function recordAfter(
  plan: ProjectPlan,
  file: string,
  record: ProjectRecord | undefined,
): Omit<ProjectRecord, 'processesIn'> {
  const previous = record?.context === plan.context ? record : undefined;
  let connected = previous?.connected ?? null;
  const exposes = new Map((previous?.exposes ?? []).map((e) => [exposeKey(e), e]));
  for (const step of plan.steps) {
    if (step.action === 'connect') connected = step.spec;
    // Both end every expose of the context (the exposes wanted are made again after).
    if (step.action === 'reconnect' && step.context === plan.context) {
      connected = step.spec;
      exposes.clear();
    }
    if (step.action === 'disconnect' && step.context === plan.context) {
      connected = null;
      exposes.clear();
    }
    if (step.action === 'expose' || step.action === 're-expose') exposes.set(exposeKey(step.spec), step.spec);
    if (step.action === 'unexpose') exposes.delete(exposeKey(step.spec));
  }
  return { file, context: plan.context, connected, exposes: [...exposes.values()] };
}

function describeMappings(spec: ExposeSpec): string {
  const ports =
    spec.mappings.length === 0
      ? 'each service port to the same local port'
      : spec.mappings.map((m) => `${String(m.remote)} → 127.0.0.1:${String(m.localPort)}`).join(', ');
  return `${ports} (${spec.header ? `personal, ${spec.header.name}=${spec.header.value}` : spec.mode})`;
}

function describeConnect(spec: ConnectSpec): string {
  const namespaces =
    spec.namespaces.length > 0
      ? `namespaces ${spec.namespaces.join(', ')}`
      : spec.excludeNamespaces.length > 0
        ? `every namespace but ${spec.excludeNamespaces.join(', ')}`
        : 'every namespace';
  return `${namespaces}, ${spec.names ? 'names in /etc/hosts' : 'by address only (no names)'}`;
}

/** One line per step, as `up` prints the plan. */
export function describeStep(step: PlanStep): string {
  switch (step.action) {
    case 'connect':
      return `connect    ${step.context}: ${describeConnect(step.spec)}`;
    case 'reconnect':
      return `reconnect  ${step.context}: ${describeConnect(step.spec)} (${step.why}; its exposes are made again)`;
    case 'disconnect':
      return `disconnect ${step.context} (${step.why})`;
    case 'keep-connection':
      return `unchanged  ${step.context} is connected${step.ours ? '' : ' (not by this project: down leaves it)'}`;
    case 'expose':
      return `expose     ${exposeKey(step.spec)}: ${describeMappings(step.spec)}`;
    case 're-expose':
      return `re-expose  ${exposeKey(step.spec)}: ${describeMappings(step.spec)} (${step.why})`;
    case 'unexpose':
      return `unexpose   ${exposeKey(step.spec)} (${step.why})`;
    case 'keep-expose':
      return `unchanged  ${exposeKey(step.spec)} is exposed${step.ours ? '' : ' (not by this project: down leaves it)'}`;
  }
}

/** A `run:` entry's command as one line. */
export function describeCommand(entry: NonNullable<ProjectFile['run']>[number]): string {
  return typeof entry.command === 'string' ? entry.command : entry.command.join(' ');
}

/** What `down` (or Ctrl-C) will undo, once the plan is carried out. */
export function describeUndo(record: Omit<ProjectRecord, 'processesIn'>): string[] {
  return [
    ...record.exposes.map((e) => `give ${exposeKey(e)} back to its pods`),
    ...(record.connected ? [`disconnect ${record.context} (its names and forwards)`] : []),
  ];
}
