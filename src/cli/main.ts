/**
 * `localizer`: the headless front end of the engine.
 *   localizer connect [--kubeconfig F] [--context C] [--namespace N]... [--exclude-namespace N]...
 *                     [--cluster-domain D] [--ip-range CIDR] [--no-names]
 *   localizer expose NS/SVC [--map LOCAL:REMOTE]... [--stop] [--ssh-image IMAGE --ssh-user NAME:UID]
 *   localizer cleanup [--force]
 *   localizer list [--json]
 */
import { parseArgs } from 'node:util';
import { ControlError, requestList } from '../main/engine/control/control-socket';
import { ExposeRefusedError } from '../main/engine/expose/workload-scaler';
import { KubeconfigError } from '../main/engine/kube/kube-context';
import { stateDirectory } from '../main/engine/state-directory';
import { defaultIpRange, runConnect } from './connect-command';
import { UsageError } from './usage-error';
import { runCleanup, runExpose } from './expose-command';
import { listJson, listTable } from './table';

const usage = `Usage:
  localizer connect [--kubeconfig FILE] [--context NAME]... [--namespace NS]... [--exclude-namespace NS]...
                    [--cluster-domain DOMAIN] [--ip-range CIDR] [--no-names]
  localizer expose NAMESPACE/SERVICE [--map LOCAL:REMOTE]... [--kubeconfig FILE] [--context NAME]
                   [--ssh-image IMAGE --ssh-user NAME:UID]
  localizer expose NAMESPACE/SERVICE --stop
  localizer cleanup [--kubeconfig FILE] [--context NAME] [--force]
  localizer list [--json]

connect   makes every Service reachable from this machine by its in-cluster names; Ctrl-C undoes it.
          Repeat --context to connect several clusters at once; a name two contexts share goes
          to the one given first, and the other reaches that service by its address
expose    sends the service's traffic to ports on this machine: its workloads are scaled down and
          an SSH pod tunnels calls to 127.0.0.1:LOCAL (default: each service port to the same
          local port). REMOTE is a service port's name or number. Runs in the running Localizer
          if there is one, else in the foreground until Ctrl-C or --stop
cleanup   restores workloads and deletes SSH pods left by an expose whose process was killed;
          --force also undoes abandoned exposes of other users or machines
list      shows every tunnel of the running instance and its health
`;

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'connect') {
    const { values } = parseArgs({
      args: rest,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string', multiple: true, default: [] },
        namespace: { type: 'string', multiple: true, default: [] },
        'exclude-namespace': { type: 'string', multiple: true, default: [] },
        'cluster-domain': { type: 'string', default: 'cluster.local' },
        'ip-range': { type: 'string', default: defaultIpRange },
        'no-names': { type: 'boolean', default: false },
      },
    });
    return runConnect(
      {
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        contexts: values.context,
        namespaces: values.namespace,
        excludeNamespaces: values['exclude-namespace'],
        clusterDomain: values['cluster-domain'],
        ipRange: values['ip-range'],
        names: !values['no-names'],
      },
      print,
    );
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
  if (command === 'list') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
    const response = await requestList(stateDirectory());
    if (values.json) print(JSON.stringify(listJson(response.tunnels), null, 2));
    else {
      print(listTable(response.tunnels));
      if (response.health.reason) print(`\n${response.health.state}: ${response.health.reason}`);
    }
    return 0;
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

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (
    error instanceof UsageError ||
    error instanceof KubeconfigError ||
    error instanceof ControlError ||
    error instanceof ExposeRefusedError
  ) {
    process.stderr.write(`localizer: ${error.message}\n`);
    process.exitCode = error instanceof ControlError || error instanceof ExposeRefusedError ? 1 : 2;
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
