/**
 * `localizer`: the headless front end of the engine.
 *   localizer connect [--kubeconfig F] [--context C] [--namespace N]... [--exclude-namespace N]...
 *                     [--cluster-domain D] [--ip-range CIDR] [--no-names]
 *   localizer list [--json]
 */
import { parseArgs } from 'node:util';
import { ControlError, requestControl } from '../main/engine/control/control-socket';
import { KubeconfigError } from '../main/engine/kube/kube-context';
import { stateDirectory } from '../main/engine/state-directory';
import { defaultIpRange, runConnect, UsageError } from './connect-command';
import { listJson, listTable } from './table';

const usage = `Usage:
  localizer connect [--kubeconfig FILE] [--context NAME]... [--namespace NS]... [--exclude-namespace NS]...
                    [--cluster-domain DOMAIN] [--ip-range CIDR] [--no-names]
  localizer list [--json]

connect   makes every Service reachable from this machine by its in-cluster names; Ctrl-C undoes it.
          Repeat --context to connect several clusters at once; a name two contexts share goes
          to the one given first, and the other reaches that service by its address
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
  if (command === 'list') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
    const response = await requestControl(stateDirectory(), { op: 'list' });
    if (!response.ok) throw new ControlError(response.message);
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

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || error instanceof KubeconfigError || error instanceof ControlError) {
    process.stderr.write(`localizer: ${error.message}\n`);
    process.exitCode = error instanceof ControlError ? 1 : 2;
  } else if (
    error instanceof TypeError &&
    'code' in error &&
    String(error.code).startsWith('ERR_PARSE_ARGS')
  ) {
    process.stderr.write(`localizer: ${error.message}\n\n${usage}`);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
