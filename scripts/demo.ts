/**
 * `npm run demo`: starts the demo cluster, then the app against it. Where the Electron binary is
 * missing it says so and keeps the cluster up for the headless tools.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startTestCluster } from '../e2e/cluster/test-cluster';

function electronBinary(): string | undefined {
  try {
    // The electron package exports the binary's path, and throws when the download was skipped.
    const path = createRequire(import.meta.url)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

const directory = join(process.cwd(), '.demo');
mkdirSync(directory, { recursive: true });
process.stdout.write('Starting the demo cluster (namespaces web, data, tools)…\n');
const cluster = await startTestCluster({
  scenario: 'demo',
  kubeconfigPath: join(directory, 'kubeconfig'),
  readyTimeoutMs: 120_000,
});
process.stdout.write(`Demo cluster ready: ${cluster.server}, kubeconfig ${cluster.kubeconfigPath}\n`);

const stop = async (code: number): Promise<never> => {
  await cluster.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

const electron = electronBinary();
if (electron) {
  const app = spawn(electron, ['.'], {
    stdio: 'inherit',
    env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
  });
  app.on('exit', (code) => void stop(code ?? 0));
} else {
  process.stdout.write(
    [
      '',
      'The Electron binary is not installed on this machine, so the tray app cannot start here.',
      'Running the headless `localizer connect` against the demo cluster instead.',
      'In another terminal try: curl http://frontend.web/   or   node bin/localizer.mjs list',
      `To see the window in a browser: npm run ui-preview -- --kubeconfig ${cluster.kubeconfigPath}`,
      '',
    ].join('\n'),
  );
  const cli = spawn(
    process.execPath,
    [join(process.cwd(), 'bin/localizer.mjs'), 'connect', '--kubeconfig', cluster.kubeconfigPath],
    { stdio: 'inherit' },
  );
  // Ctrl-C reaches both; the CLI cleans up its names, then the cluster stops.
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', () => undefined);
  cli.on('exit', (code) => void stop(code ?? 0));
}
