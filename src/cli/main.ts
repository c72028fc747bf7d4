/**
 * `localizer`: the command-line front end. Every command drives the one running Localizer (the
 * tray app, `localizer daemon`, or a foreground `connect`/`expose`) over its control socket;
 * `connect` and `expose` become that instance, in the foreground, when none runs.
 */
import { parseArgs } from 'node:util';
import { ControlError } from '../main/engine/control/control-client';
import { ConnectError } from '../main/engine/connect/connect-engine';
import { ExposeRefusedError } from '../main/engine/expose/workload-scaler';
import { InstanceRefusedError } from '../main/engine/instance/localizer-instance';
import { EnvironmentError } from '../main/engine/environment/container-environment';
import { InstanceRunningError } from '../main/engine/control/instance-lock';
import { KubeconfigError } from '../main/engine/kube/kube-context';
import { stateDirectory } from '../main/engine/state-directory';
import { runConnect, runDisconnect } from './connect-command';
import { runDaemon } from './daemon-command';
import { runEnv, runWithEnvironment } from './env-command';
import { runCleanup, runExpose } from './expose-command';
import { runList, runStatus } from './list-command';
import { runMcpInstall, runMcpServer } from './mcp-command';
import { runDown, runUp } from './up-command';
import { ProjectFileError } from '../main/engine/project/project-file-reader';
import { McpInstallError } from '../mcp/mcp-install';
import { UsageError } from './usage-error';

const usage = `Usage:
  localizer daemon
  localizer connect [--kubeconfig FILE] [--context NAME]... [--namespace NS]... [--exclude-namespace NS]...
                    [--cluster-domain DOMAIN] [--ip-range CIDR] [--no-names]
                    [--no-relays] [--relay-image IMAGE]
  localizer disconnect [--context NAME]...
  localizer expose NAMESPACE/SERVICE [--map LOCAL:REMOTE]... [--scale-down | --header NAME=VALUE] [--kubeconfig FILE]
                   [--context NAME] [--ssh-image IMAGE --ssh-user NAME:UID]
  localizer expose NAMESPACE/SERVICE --stop [--context NAME]
  localizer cleanup [--kubeconfig FILE] [--context NAME] [--force]
  localizer list [--json] [--watch]
  localizer status [--json]
  localizer env NAMESPACE/WORKLOAD [--container NAME] [--format dotenv|json|shell] [--output FILE [--force]]
  localizer run NAMESPACE/WORKLOAD [--container NAME] [--files DIR] -- COMMAND [ARGS]...
  localizer up [-f FILE] [--dry-run] [--detach] [--ip-range CIDR]
  localizer down [-f FILE]
  localizer mcp [--allow-secret-values]
  localizer mcp install claude|cursor|vscode [--print] [--allow-secret-values]

daemon      runs Localizer headless in this terminal until Ctrl-C; the other commands drive it
            (the tray app is the same instance, with a window)
connect     makes every Service reachable from this machine by its in-cluster names. Asks the
            running Localizer and returns once every service is ready (or waits for a pod the
            cluster has not made ready, which it names); with none running, runs
            in the foreground until Ctrl-C. Repeat --context to connect several clusters; a name
            two contexts share goes to the one given first
disconnect  removes the names and forwards of these contexts (default: all), and their exposes
expose      sends the service's traffic to ports on this machine: an SSH pod tunnels calls to
            127.0.0.1:LOCAL (default: each service port to the same local port), and the service's
            selector is pointed at it while its own pods keep running (a takeover: connections
            already open to them stay there). --scale-down scales its workloads to zero instead,
            which moves open connections, pod names and queue consumers too. --header x-dev=alice
            is a personal intercept: only HTTP requests with that header reach this machine, all
            others the service's own pods, and teammates share the service with their own values
            (a router pod in the cluster routes them; the last one out removes it). REMOTE is a service
            port's name or number. Uses the running Localizer's context (--context picks one of
            several); with none running, runs in the foreground until Ctrl-C or --stop
cleanup     gives taken-over services their selector back, restores workloads and deletes SSH pods
            left by an expose whose process was killed; --force also undoes abandoned exposes of
            other users or machines
list        every tunnel of the running Localizer and its health; --watch follows changes
env         a workload's container environment as its pods get it (WORKLOAD: deploy/NAME, sts/NAME,
            pod/NAME, or a service's name): values, ConfigMaps, Secrets, fields, resources and service
            links, with in-cluster addresses rewritten to this machine's forwards while connected.
            --output writes mode 0600 and refuses a file git could commit (--force to write anyway)
run         runs COMMAND with that environment; nothing is written to disk. --files DIR also puts
            the container's ConfigMap, Secret and downward-API volume files under DIR (0700) at
            their mount paths, with their modes, while COMMAND runs (LOCALIZER_FILES names DIR)
status      which Localizer runs (kind, pid), its contexts and their state, names, tunnel counts.
            Exit status 3 when none runs
up          brings up a project file (default ./localizer.yaml): its context and namespaces connected,
            its services exposed, its processes run with their workload's environment (output
            prefixed by name). Prints the plan first; --dry-run prints only the plan (the drift
            from what runs now). Run again, it changes only what the file changed. Uses the
            running Localizer, or runs in the foreground when none runs
down        undoes what up of that file did, and nothing else (also Ctrl-C of the up that runs
            its processes)
mcp         a Model Context Protocol server on stdin/stdout for coding agents: status, services and
            their health, connect, expose, a workload's environment (Secret values only with
            --allow-secret-values). It drives the running Localizer and never starts one.
            mcp install adds it to Claude Code, Cursor or VS Code (--print shows the entry)
`;

// A reader that goes away (`localizer list --watch | head`) ends the command, quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'daemon') {
    parseArgs({ args: rest, options: {} });
    return runDaemon(print);
  }
  if (command === 'connect') {
    const { values } = parseArgs({
      args: rest,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string', multiple: true, default: [] },
        namespace: { type: 'string', multiple: true, default: [] },
        'exclude-namespace': { type: 'string', multiple: true, default: [] },
        'cluster-domain': { type: 'string' },
        'ip-range': { type: 'string' },
        'no-names': { type: 'boolean', default: false },
        'no-relays': { type: 'boolean', default: false },
        'relay-image': { type: 'string' },
      },
    });
    return runConnect(
      {
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        contexts: values.context,
        namespaces: values.namespace,
        excludeNamespaces: values['exclude-namespace'],
        ...(values['cluster-domain'] ? { clusterDomain: values['cluster-domain'] } : {}),
        ...(values['ip-range'] ? { ipRange: values['ip-range'] } : {}),
        names: !values['no-names'],
        ...(values['no-relays'] ? { relays: false } : {}),
        ...(values['relay-image'] ? { relayImage: values['relay-image'] } : {}),
      },
      print,
    );
  }
  if (command === 'disconnect') {
    const { values } = parseArgs({
      args: rest,
      options: { context: { type: 'string', multiple: true, default: [] } },
    });
    return runDisconnect(values.context, print);
  }
  if (command === 'expose') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        map: { type: 'string', multiple: true, default: [] },
        stop: { type: 'boolean', default: false },
        'scale-down': { type: 'boolean', default: false },
        header: { type: 'string' },
        'ssh-image': { type: 'string' },
        'ssh-user': { type: 'string' },
      },
    });
    if (positionals.length !== 1)
      throw new UsageError(
        'expose takes one NAMESPACE/SERVICE, e.g. `localizer expose web/api --map 3000:http`.',
      );
    return runExpose(
      {
        target: positionals[0] ?? '',
        maps: values.map,
        stop: values.stop,
        mode: values['scale-down'] ? 'scale-down' : values.header !== undefined ? 'personal' : 'takeover',
        ...(values.header !== undefined ? { header: values.header } : {}),
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        ...(values.context ? { context: values.context } : {}),
        ...(values['ssh-image'] ? { sshImage: values['ssh-image'] } : {}),
        ...(values['ssh-user'] ? { sshUser: values['ssh-user'] } : {}),
      },
      print,
    );
  }
  if (command === 'cleanup') {
    const { values } = parseArgs({
      args: rest,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        force: { type: 'boolean', default: false },
      },
    });
    return runCleanup(
      {
        force: values.force,
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        ...(values.context ? { context: values.context } : {}),
      },
      print,
    );
  }
  if (command === 'up' || command === 'down') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        file: { type: 'string', short: 'f' },
        ...(command === 'up'
          ? {
              'dry-run': { type: 'boolean', default: false },
              detach: { type: 'boolean', short: 'd', default: false },
              'ip-range': { type: 'string' },
            }
          : {}),
      },
    });
    if (positionals.length > 0)
      throw new UsageError(`${command} takes no arguments; name the project file with -f FILE.`);
    return command === 'up'
      ? runUp(
          {
            file: values.file,
            dryRun: values['dry-run'] === true,
            detach: values.detach === true,
            ipRange: typeof values['ip-range'] === 'string' ? values['ip-range'] : undefined,
          },
          print,
        )
      : runDown({ file: values.file }, print);
  }
  if (command === 'mcp') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        'allow-secret-values': { type: 'boolean', default: false },
        print: { type: 'boolean', default: false },
      },
    });
    const allowSecretValues = values['allow-secret-values'];
    if (positionals[0] === 'install')
      return runMcpInstall({ client: positionals[1], print: values.print, allowSecretValues }, print);
    if (positionals.length > 0)
      throw new UsageError(
        'mcp takes no arguments but `install CLIENT`, e.g. `localizer mcp install cursor`.',
      );
    return runMcpServer({ allowSecretValues });
  }
  if (command === 'list') {
    const { values } = parseArgs({
      args: rest,
      options: { json: { type: 'boolean', default: false }, watch: { type: 'boolean', default: false } },
    });
    return runList(values, print);
  }
  if (command === 'env' || command === 'run') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        container: { type: 'string' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        ...(command === 'run' ? { files: { type: 'string' } } : {}),
        ...(command === 'env'
          ? {
              format: { type: 'string', default: 'dotenv' },
              output: { type: 'string' },
              force: { type: 'boolean', default: false },
            }
          : {}),
      },
    });
    const [target, ...commandLine] = positionals;
    if (!target)
      throw new UsageError(
        `${command} takes NAMESPACE/WORKLOAD, e.g. \`localizer ${command} web/deploy/api\`.`,
      );
    const common = {
      target,
      ...(values.container ? { container: values.container } : {}),
      ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
      ...(values.context ? { context: values.context } : {}),
    };
    const warn = (line: string): void => void process.stderr.write(`${line}\n`);
    if (command === 'run') {
      if (!rest.includes('--'))
        throw new UsageError(
          'run takes the command after `--`: `localizer run web/deploy/api -- npm start`.',
        );
      const files = (values as { files?: string }).files;
      return runWithEnvironment(
        { ...common, command: commandLine, ...(files ? { filesDirectory: files } : {}) },
        warn,
      );
    }
    if (commandLine.length > 0)
      throw new UsageError(
        `env takes one NAMESPACE/WORKLOAD; to run a command with it, use \`localizer run ${target} -- ${commandLine.join(' ')}\`.`,
      );
    const envValues = values as { format?: string; output?: string; force?: boolean };
    return runEnv(
      {
        ...common,
        format: envValues.format ?? 'dotenv',
        force: envValues.force ?? false,
        ...(envValues.output ? { output: envValues.output } : {}),
      },
      print,
      warn,
    );
  }
  if (command === 'status') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
    return runStatus(values, print);
  }
  process.stdout.write(usage);
  return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
}

/** A failed file operation on a named path (the state directory, a kubeconfig): the user's to fix. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException & { path: string } {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).path === 'string';
}

const fileSystemHints: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  ENOTDIR: 'a part of that path is a file, not a directory',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
};

function describeFileSystemError(error: NodeJS.ErrnoException & { path: string }): string {
  const why = fileSystemHints[error.code ?? ''] ?? error.message;
  const state = stateDirectory();
  const fix = error.path.startsWith(state)
    ? `Localizer keeps its state in ${state}: make it yours (\`ls -ld\` shows the owner), or set LOCALIZER_STATE_DIR to a directory you can write.`
    : 'Check its owner and mode with `ls -ld`.';
  return `cannot ${error.syscall ?? 'use'} ${error.path}: ${why}. ${fix}`;
}

/** Exit 2 for what the user typed or configured; 1 for what the running Localizer or the cluster refused. */
function exitCodeFor(error: Error): number {
  if (
    error instanceof UsageError ||
    error instanceof KubeconfigError ||
    error instanceof ConnectError ||
    error instanceof McpInstallError ||
    error instanceof ProjectFileError
  )
    return 2;
  return 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (
    error instanceof UsageError ||
    error instanceof KubeconfigError ||
    error instanceof ConnectError ||
    error instanceof ControlError ||
    error instanceof ExposeRefusedError ||
    error instanceof InstanceRefusedError ||
    error instanceof InstanceRunningError ||
    error instanceof EnvironmentError ||
    error instanceof McpInstallError ||
    error instanceof ProjectFileError
  ) {
    process.stderr.write(`localizer: ${error.message}\n`);
    process.exitCode = exitCodeFor(error);
  } else if (
    error instanceof TypeError &&
    'code' in error &&
    String(error.code).startsWith('ERR_PARSE_ARGS')
  ) {
    process.stderr.write(`localizer: ${error.message}\n\n${usage}`);
    process.exitCode = 2;
  } else if (isFileSystemError(error)) {
    process.stderr.write(`localizer: ${describeFileSystemError(error)}\n`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
