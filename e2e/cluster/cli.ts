/**
 * `npm run test-cluster -- --scenario demo --kubeconfig ./kubeconfig`: runs a test cluster in the
 * foreground until SIGINT or SIGTERM, then stops every pod process it started.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isScenarioName, scenarios } from './scenarios/scenarios';
import { stopWithLauncher } from './launcher-lifetime';
import { startTestCluster, type TestCluster } from './test-cluster';

function fail(message: string): never {
  process.stderr.write(`test-cluster: ${message}\n`);
  process.exit(2);
}

function positiveInteger(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    fail(`Expected \`${option}\` to be a whole number of at least 1, got ${JSON.stringify(value)}`);
  return number;
}

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'demo' },
    kubeconfig: { type: 'string' },
    port: { type: 'string' },
    namespaces: { type: 'string' },
    services: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    [
      'Usage: npm run test-cluster -- [--scenario demo|scale|empty] [--kubeconfig FILE] [--port N]',
      '                              [--namespaces N --services M] [--verbose]',
      '',
      'Runs a Kubernetes test cluster in the foreground and writes a kubeconfig for it (mode 0600).',
      `Scenarios: ${Object.keys(scenarios).join(', ')}. Stop it with Ctrl-C.`,
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const scenario = values.scenario;
if (!isScenarioName(scenario))
  fail(`Unknown scenario ${JSON.stringify(scenario)}; choose one of: ${Object.keys(scenarios).join(', ')}`);
const port = positiveInteger(values.port, '--port');
if (port !== undefined && port > 65535) fail(`Expected \`--port\` to be 1–65535, got ${port}`);
const kubeconfigPath = resolve(values.kubeconfig ?? 'test-cluster.kubeconfig');

let cluster: TestCluster | undefined = undefined;
let stopping = false;
/** Stops every pod before exiting; pods of a cluster still starting exit with this process. */
function stop(): void {
  if (stopping) return;
  stopping = true;
  if (!cluster) process.exit(0);
  void cluster.stop().then(() => process.exit(0));
}
// Noted before the first pod starts, so a launcher that dies during start is seen too.
stopWithLauncher((why) => {
  process.stderr.write(`test-cluster: stopping, because ${why}\n`);
  stop();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, stop);

cluster = await startTestCluster({
  scenario,
  scenarioOptions: {
    ...(values.namespaces ? { namespaces: positiveInteger(values.namespaces, '--namespaces') } : {}),
    ...(values.services ? { services: positiveInteger(values.services, '--services') } : {}),
  },
  kubeconfigPath,
  ...(port !== undefined ? { port } : {}),
  readyTimeoutMs: 120_000,
  log: (message) => {
    if (values.verbose) process.stderr.write(`${message}\n`);
  },
}).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));

process.stdout.write(`test cluster ready: kubeconfig=${cluster.kubeconfigPath}\n`);
