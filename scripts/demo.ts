/**
 * `npm run demo [-- CONNECT-OPTIONS]`: starts the demo cluster, then the app against it. Where the
 * Electron binary is missing it says so and runs the headless `localizer connect` instead (with
 * any options given after `--`, such as `--no-names`). However it is stopped (Ctrl-C, `kill` of
 * npm alone, a closed terminal), the app or connect undoes its names first, then every pod stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { stopWithLauncher } from '../e2e/cluster/launcher-lifetime';
import { startTestCluster, type TestCluster } from '../e2e/cluster/test-cluster';
import { missingTools, missingToolsMessage } from '../e2e/support/system-tools';

function electronBinary(): string | undefined {
  try {
    // The electron package exports the binary's path, and throws when the download was skipped.
    const path = createRequire(import.meta.url)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

let cluster: TestCluster | undefined = undefined;
let frontEnd: ChildProcess | undefined;
let stopping = false;

/** The front end first (it removes its names and restores what it exposed), then the cluster. */
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (frontEnd && frontEnd.exitCode === null && frontEnd.signalCode === null) {
      const exited = new Promise((resolve) => frontEnd?.once('exit', resolve));
      frontEnd.kill('SIGINT');
      await exited;
    }
    await cluster?.stop();
  }
  process.exit(code);
}
stopWithLauncher((why) => {
  process.stderr.write(`demo: stopping, because ${why}\n`);
  void stop(0);
});
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

// SSH pods (expose) run the machine's own sshd; say so now rather than at the first expose.
const missing = missingTools(['sshd', 'utilLinux']);
if (missing.length > 0)
  process.stderr.write(
    `${missingToolsMessage(missing).replace('these tests need', 'the demo needs for expose')}\n`,
  );

const directory = process.env.LOCALIZER_DEMO_DIR ?? join(process.cwd(), '.demo');
mkdirSync(directory, { recursive: true });
process.stdout.write('Starting the demo cluster (namespaces web, data, tools)…\n');
cluster = await startTestCluster({
  scenario: 'demo',
  kubeconfigPath: join(directory, 'kubeconfig'),
  readyTimeoutMs: 120_000,
});
process.stdout.write(`Demo cluster ready: ${cluster.server}, kubeconfig ${cluster.kubeconfigPath}\n`);

const electron = electronBinary();
if (electron) {
  frontEnd = spawn(electron, ['.'], {
    stdio: 'inherit',
    env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath },
  });
} else {
  process.stdout.write(
    [
      '',
      'The Electron binary is not installed on this machine, so the tray app cannot start here.',
      'Running the headless `localizer connect` against the demo cluster instead.',
      'In another terminal try: curl http://frontend.web/   or   node bin/localizer.mjs status',
      '  (list, expose web/api --map 3000:8080, disconnect: every command drives this one Localizer)',
      `For the window in a browser instead, stop this and run: npm run ui-preview -- --kubeconfig ${cluster.kubeconfigPath}`,
      '',
    ].join('\n'),
  );
  frontEnd = spawn(
    process.execPath,
    [
      join(process.cwd(), 'bin/localizer.mjs'),
      'connect',
      '--kubeconfig',
      cluster.kubeconfigPath,
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
}
frontEnd.on('exit', (code) => void stop(code ?? 0));
