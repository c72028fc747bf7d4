/** `npm run test-cluster`: the ready line, a private kubeconfig, and nothing left running after a signal. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { processesMarked } from '../support/leftovers';
import { run } from '../support/processes';
import { requireSystemTools } from '../support/system-tools';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const tsx = join(projectRoot, 'node_modules/.bin/tsx');

/** Every process below `pid`, from ps. */
function descendants(pid: number): number[] {
  const children = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter(([, parent]) => parent === pid)
    .map(([child]) => child ?? 0);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(() => {
  requireSystemTools('kubectl', 'procps');
});
describe('npm run test-cluster', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`prints the ready line, writes a 0600 kubeconfig, and leaves no process behind after ${signal}`, async () => {
      const kubeconfig = join(mkdtempSync(join(tmpdir(), 'cli-test-')), 'kubeconfig');
      const child = spawn(tsx, ['e2e/cluster/cli.ts', '--scenario', 'demo', '--kubeconfig', kubeconfig], {
        cwd: projectRoot,
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await expect
        .poll(() => stdout, { timeout: 60_000, message: 'the cluster should say it is ready' })
        .toBe(`test cluster ready: kubeconfig=${kubeconfig}\n`);
      expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
      const pods = await run('kubectl', [
        '--kubeconfig',
        kubeconfig,
        '--cache-dir',
        join(tmpdir(), 'cli-test-cache'),
        'get',
        'pods',
        '-A',
        '--no-headers',
      ]);
      expect(pods.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(10);
      const tree = descendants(child.pid ?? 0);
      expect(tree.length, 'pod processes should be running under the cluster').toBeGreaterThanOrEqual(10);
      child.kill(signal);
      expect(await exited).toBe(0);
      await expect
        .poll(() => tree.filter(alive), { timeout: 10_000, message: 'every pod process should be gone' })
        .toEqual([]);
    });
  }

  const stops = [
    { script: 'test-cluster', how: "only npm's own process gets SIGTERM", signal: 'SIGTERM', group: false },
    { script: 'demo', how: "only npm's own process gets SIGTERM", signal: 'SIGTERM', group: false },
    // As `timeout` and a terminal's Ctrl-C send it: every process, pods included, at once.
    { script: 'demo', how: 'its whole process group gets SIGINT', signal: 'SIGINT', group: true },
  ] as const;
  for (const { script, how, signal, group } of stops) {
    it(`leaves no process behind when ${how} (npm run ${script})`, async () => {
      const directory = mkdtempSync(join(tmpdir(), 'cli-npm-'));
      const args =
        script === 'demo'
          ? ['run', 'demo', '--', '--no-names']
          : [
              'run',
              'test-cluster',
              '--',
              '--scenario',
              'demo',
              '--kubeconfig',
              join(directory, 'kubeconfig'),
            ];
      // As a terminal starts it: npm in a process group of its own, its output read here.
      const npm = spawn('npm', args, {
        cwd: projectRoot,
        detached: true,
        env: { ...process.env, LOCALIZER_STATE_DIR: join(directory, 'state'), LOCALIZER_DEMO_DIR: directory },
      });
      let output = '';
      npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const ready = script === 'demo' ? /services ready|Connected/ : /test cluster ready/;
      await expect
        .poll(() => output, { timeout: 90_000, message: `npm run ${script} should get ready` })
        .toMatch(ready);
      await expect
        .poll(() => descendants(npm.pid ?? 0).length, {
          timeout: 30_000,
          message: 'pod processes should be running under npm',
        })
        .toBeGreaterThanOrEqual(10);
      const tree = descendants(npm.pid ?? 0);
      // `kill PID`: npm alone, not its group; npm and its `sh -c` go, and what they started must
      // too. Or the whole group: pods die, the kubelet would restart them while it stops.
      process.kill(group ? -(npm.pid ?? 0) : (npm.pid ?? 0), signal);
      // The processes it had, and any container started since (a restart during the stop): each
      // names its kubelet's pid in its environment.
      const left = (): string[] => [
        ...tree.filter(alive).map(String),
        ...tree.flatMap((pid) =>
          processesMarked(`LOCALIZER_KUBELET_PID=${String(pid)}\n`).map((p) => p.args),
        ),
      ];
      await expect
        .poll(left, {
          timeout: 5_000,
          interval: 100,
          message: `no process of npm run ${script} should remain 5 s after ${signal} to ${group ? 'its group' : 'npm'} (output: ${output})`,
        })
        .toEqual([]);
    });
  }

  it('refuses an unknown scenario with a message that lists the known ones', async () => {
    const result = await run(tsx, ['e2e/cluster/cli.ts', '--scenario', 'nope'], {
      env: {},
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Unknown scenario "nope"; choose one of: demo, scale, empty');
  });
});
