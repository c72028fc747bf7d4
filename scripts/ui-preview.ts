/**
 * `npm run ui-preview -- --kubeconfig F [--port P] [--ip-range CIDR]`: the renderer in a normal
 * browser, on a real engine connected to F. Prints the URL to open; Ctrl-C stops it and undoes
 * every connection and expose.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRenderer } from '../e2e/harness/build-renderer';
import { startHarness } from '../e2e/harness/harness-server';

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
  stateDirectory: process.env.LOCALIZER_STATE_DIR ?? mkdtempSync(join(tmpdir(), 'localizer-ui-preview-')),
  port: Number(values.port),
  ...(values['ip-range'] ? { settings: { ipRange: values['ip-range'] } } : {}),
});
process.stdout.write(`Localizer UI preview: open ${harness.url}\nPress Ctrl-C to stop.\n`);
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await harness.close();
