/**
 * `localizer`: the command-line front end. Every command drives the one running Localizer (the
 * tray app, `localizer daemon`, or a foreground `connect`/`expose`) over its control socket;
 * `connect` and `expose` become that instance, in the foreground, when none runs.
 *
 * Each command's module is loaded when that command runs: one that only asks the running
 * instance (`list`, `status`, `disconnect`, `expose --stop`) never loads the Kubernetes client,
 * SSH or the engine, so it answers in a fraction of the time.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error';
import { reportCliError } from './cli-errors';
import { commandUsage, usage } from './usage';

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
  // `localizer COMMAND --help` and `localizer help COMMAND`, before COMMAND checks its arguments.
  // What follows `--` is another program's (`localizer run … -- node --help`).
  const ownArgs = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  const helpWanted = ownArgs.some((arg) => arg === '--help' || arg === '-h');
  const help = command === 'help' ? rest[0] : helpWanted ? command : undefined;
  const helpText = help === undefined ? undefined : commandUsage(help);
  if (helpText !== undefined) {
    process.stdout.write(helpText);
    return 0;
  }
  if (command === 'daemon') {
    parseArgs({ args: rest, options: {} });
    const { runDaemon } = await import('./daemon-command');
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
    const { runConnect } = await import('./connect-command');
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
    const { runDisconnect } = await import('./connect-command');
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
    const { runExpose } = await import('./expose-command');
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
    const { runCleanup } = await import('./expose-command');
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
    const { runDown, runUp } = await import('./up-command');
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
    const { runMcpInstall, runMcpServer } = await import('./mcp-command');
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
    const { runList } = await import('./list-command');
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
    const { runEnv, runWithEnvironment } = await import('./env-command');
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
    const { runStatus } = await import('./list-command');
    return runStatus(values, print);
  }
  // `localizer help nope` names `nope`, as `localizer nope` does.
  const unknown = command === 'help' ? rest[0] : command;
  const asked = unknown === undefined || unknown === 'help' || unknown === '--help' || unknown === '-h';
  if (!asked)
    process.stderr.write(`localizer: there is no command ${JSON.stringify(unknown)}; these are:\n\n`);
  (asked ? process.stdout : process.stderr).write(usage);
  return asked ? 0 : 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const exitCode = reportCliError(error, (line) => process.stderr.write(line), process.argv[2]);
  if (exitCode === undefined) throw error;
  process.exitCode = exitCode;
}
