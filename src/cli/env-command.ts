/**
 * `localizer env NS/WORKLOAD` prints (or writes) a workload container's environment as its pods
 * get it; `localizer run NS/WORKLOAD -- COMMAND…` runs a command with it, writing nothing. With
 * a Localizer running, it answers (in its context, with in-cluster addresses rewritten to its
 * forwards); else this command reads the cluster itself.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import type { EnvironmentAnswer } from '../shared/control-answers';
import { requestControl, ControlError, runningInstance } from '../main/engine/control/control-client';
import { EnvironmentError } from '../main/engine/environment/container-environment';
import {
  environmentNotes,
  formatEnvironment,
  environmentFormats,
  type EnvironmentFormat,
} from '../main/engine/environment/environment-format';
import { stateDirectory } from '../main/engine/state-directory';
import { kubeSource } from './kube-source';
import { UsageError } from './usage-error';

export interface EnvArguments {
  /** `NAMESPACE/WORKLOAD`. */
  target: string;
  /** Also the files of the container's ConfigMap, Secret and downward-API volumes. */
  files?: boolean;
  container?: string;
  kubeconfig?: string;
  context?: string;
}

function parseTarget(text: string): { namespace: string; workload: string } {
  const slash = text.indexOf('/');
  const namespace = text.slice(0, slash);
  const workload = text.slice(slash + 1);
  if (slash <= 0 || !workload || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace))
    throw new UsageError(
      `${JSON.stringify(text)} is not NAMESPACE/WORKLOAD. Name the workload with its namespace: web/deploy/api, web/sts/kv, web/pod/api-0, or web/api for a service's workload.`,
    );
  return { namespace, workload };
}

/** Asks the running Localizer, or reads the cluster here when none runs. */
export async function fetchEnvironment(args: EnvArguments): Promise<EnvironmentAnswer> {
  const { namespace, workload } = parseTarget(args.target);
  const query = {
    namespace,
    workload,
    ...(args.container ? { container: args.container } : {}),
    ...(args.files ? { files: true } : {}),
  };
  const directory = stateDirectory();
  if (runningInstance(directory)) {
    return requestControl(directory, {
      op: 'environment',
      source: kubeSource(args.kubeconfig),
      ...(args.context ? { context: args.context } : {}),
      ...query,
    }).catch((error: unknown) => {
      if (error instanceof ControlError && error.code === 'refused')
        throw new EnvironmentError(error.message);
      throw error;
    });
  }
  // The Kubernetes client is loaded only when this command reads the cluster itself.
  const [{ answerEnvironment }, { loadKubeContext }, { makeClusterApis }] = await Promise.all([
    import('../main/engine/environment/environment-answer'),
    import('../main/engine/kube/kube-context'),
    import('../main/engine/kube/cluster-apis'),
  ]);
  const context = loadKubeContext({
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
    ...(args.context ? { context: args.context } : {}),
  });
  return answerEnvironment(context, query, makeClusterApis(context.kubeConfig));
}

/** Whether `file` is inside a git work tree and not ignored there (so it could be committed). */
function trackedByGit(file: string): string | undefined {
  try {
    const top = execFileSync('git', ['-C', dirname(file), 'rev-parse', '--show-toplevel'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    try {
      execFileSync('git', ['-C', dirname(file), 'check-ignore', '-q', file], { stdio: 'ignore' });
      return undefined; // ignored
    } catch {
      return top;
    }
  } catch {
    return undefined; // not a work tree, or no git
  }
}

/** Writes mode 0600, whole or not at all. */
function writePrivately(file: string, text: string): void {
  const temporary = `${file}.localizer-${String(process.pid)}`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
}

export async function runEnv(
  args: EnvArguments & { format: string; output?: string; force: boolean },
  print: (line: string) => void,
  warn: (line: string) => void,
): Promise<number> {
  if (!(environmentFormats as readonly string[]).includes(args.format))
    throw new UsageError(
      `--format ${JSON.stringify(args.format)}: use one of ${environmentFormats.join(', ')}.`,
    );
  const format = args.format as EnvironmentFormat;
  const output = args.output ? resolve(args.output) : undefined;
  if (output) {
    if (!existsSync(dirname(output)))
      throw new UsageError(`--output ${args.output}: the directory ${dirname(output)} does not exist.`);
    const tree = args.force ? undefined : trackedByGit(output);
    if (tree)
      throw new UsageError(
        `--output ${args.output} is inside the git work tree ${tree} and not ignored, so its secrets could be committed. Add it to .gitignore, write it elsewhere, or pass --force.`,
      );
  }
  const answer = await fetchEnvironment(args);
  const said = environmentNotes(answer);
  // On the terminal a .env or shell listing carries the notes as comments; a file or JSON does not.
  if (output || format === 'json') for (const line of said) warn(line);
  const text = formatEnvironment(answer.variables, format, format === 'json' ? [] : said);
  if (output) {
    writePrivately(output, text);
    warn(`wrote ${String(answer.variables.length)} variables to ${output} (mode 0600)`);
  } else print(text.trimEnd());
  return 0;
}

/** The directory `--files` names: new or empty, made 0700; removed again when the command ends. */
function prepareFilesDirectory(directory: string): () => void {
  if (existsSync(directory) && readdirSync(directory).length > 0)
    throw new UsageError(
      `--files ${directory} is not empty. Name a new or empty directory: the volume files go there while the command runs, and are removed after.`,
    );
  const created = !existsSync(directory);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  chmodSync(directory, 0o700);
  return () => {
    if (created) rmSync(directory, { recursive: true, force: true });
    else
      for (const entry of readdirSync(directory))
        rmSync(join(directory, entry), { recursive: true, force: true });
  };
}

/** Writes each volume file under `directory` at its mount path, with its mode. */
function writeFiles(directory: string, files: NonNullable<EnvironmentAnswer['files']>): void {
  for (const file of files) {
    const target = resolve(directory, file.path);
    if (!target.startsWith(`${directory}${sep}`))
      throw new EnvironmentError(`the volume file ${file.path} would land outside ${directory}`);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, Buffer.from(file.content, 'base64'), { mode: file.mode });
    chmodSync(target, file.mode);
  }
}

/**
 * The environment a process runs with (this one's, then the workload's), and with `filesDirectory`
 * the volume files written there; `removeFiles` takes them away again once the process ends.
 */
export async function prepareEnvironment(
  args: EnvArguments & { filesDirectory?: string },
  warn: (line: string) => void,
): Promise<{ env: NodeJS.ProcessEnv; removeFiles: () => void }> {
  const directory = args.filesDirectory ? resolve(args.filesDirectory) : undefined;
  const removeFiles = directory ? prepareFilesDirectory(directory) : () => undefined;
  let answer: EnvironmentAnswer;
  try {
    answer = await fetchEnvironment({ ...args, files: directory !== undefined });
    if (directory) writeFiles(directory, answer.files ?? []);
  } catch (error) {
    removeFiles();
    throw error;
  }
  for (const line of environmentNotes(answer)) warn(line);
  if (directory) warn(`volume files under ${directory} (LOCALIZER_FILES), removed when the command ends`);
  const env = {
    ...process.env,
    ...Object.fromEntries(answer.variables.map((v) => [v.name, v.value])),
    ...(directory ? { LOCALIZER_FILES: directory } : {}),
  };
  return { env, removeFiles };
}

export async function runWithEnvironment(
  args: EnvArguments & { command: string[]; filesDirectory?: string },
  warn: (line: string) => void,
): Promise<number> {
  const [command, ...commandArgs] = args.command;
  if (!command)
    throw new UsageError('run needs a command after `--`, e.g. `localizer run web/deploy/api -- npm start`.');
  const { env, removeFiles } = await prepareEnvironment(args, warn);
  const child = spawn(command, commandArgs, { env, stdio: 'inherit' });
  // Ctrl-C reaches the command from the terminal itself; a signal sent to this process only is
  // passed on, so the command is never left running without it.
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolveExit) => {
    child.once('error', (error) => {
      removeFiles();
      warn(`cannot run ${command}: ${error.message}`);
      resolveExit(127);
    });
    child.once('exit', (code, signal) => {
      removeFiles();
      resolveExit(code ?? 128 + (signal ? ((constants.signals[signal] as number | undefined) ?? 1) : 1));
    });
  });
}
