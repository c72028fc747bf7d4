/**
 * `npm run ui-preview -- --kubeconfig F [--port P] [--ip-range CIDR]`: the renderer in a normal
 * browser, on a real engine connected to F. Prints the URL to open; Ctrl-C stops it and undoes
 * every connection and expose.
 */
import { parseArgs } from 'node:util';
import { buildRenderer } from '../e2e/harness/build-renderer';
import { startHarness } from '../e2e/harness/harness-server';
import { InstanceRunningError } from '../src/main/engine/control/instance-lock';
import { stateDirectory } from '../src/main/engine/state-directory';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    port: { type: 'string', default: '0' },
    'ip-range': { type: 'string' },
  },
});
const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
if (!kubeconfig) {
  process.stderr.write(
    'ui-preview: give --kubeconfig FILE (try `npm run test-cluster` for a demo cluster).\n',
  );
  process.exit(2);
}
process.stdout.write('Building the renderer…\n');
const rendererDirectory = await buildRenderer();
const harness = await startHarness({
  rendererDirectory,
  kubeconfig,
  // The user's own state directory, as the app's: `localizer list` and `expose` drive this instance.
  stateDirectory: stateDirectory(),
  port: Number(values.port),
  ...(values['ip-range'] ? { settings: { ipRange: values['ip-range'] } } : {}),
}).catch((error: unknown) => {
  if (!(error instanceof InstanceRunningError)) throw error;
  process.stderr.write(`ui-preview: ${error.message}\n`);
  process.exit(1);
});
process.stdout.write(
  `Localizer UI preview: open ${harness.url}\nThe localizer command drives this instance (try \`localizer status\`). Press Ctrl-C to stop.\n`,
);
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await harness.close();
