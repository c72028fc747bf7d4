/**
 * Killing `localizer connect` as hard as a crash does leaves nothing behind: SIGKILL (no chance to
 * clean up), or Ctrl-\ (SIGQUIT to the whole group, which kills connect where it stands). The
 * helper, started the way the CLI really starts it (through sudo for a user, directly for root)
 * with its output piped to the process that died, removes every name within its grace period and
 * exits. The figures are printed as a table.
 */
import { spawn } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../cluster/test-cluster';
import { takeLocalizerRange } from '../support/address-ranges';
import {
  canRunAsSandboxUser,
  createHostsSandbox,
  inHostsSandbox,
  sandboxEnvironment,
  type SandboxUser,
} from '../support/hosts-sandbox';
import { processesMarked } from '../support/leftovers';
import { pollUntil } from '../support/poll';
import { requireSystemTools } from '../support/system-tools';
import { printFigures, type FaultFigures } from './fault-figures';
import { killDelays, untilKillMoment } from './kill-moments';
import { builtCli, builtHelper } from '../support/built-localizer';

const cliPath = builtCli;
const helperScript = builtHelper;
/** The built CLI in one node process, as an installed `localizer` runs. */
const cliCommand = [process.execPath, cliPath] as const;
const isRoot = process.getuid?.() === 0;
/** The helper's default grace period after its last client goes. */
const helperGraceMs = 3000;

let cluster: TestCluster | undefined;
const ranges: { release: () => void }[] = [];
const figures: FaultFigures[] = [];

beforeAll(async () => {
  requireSystemTools('utilLinux', 'procps', 'sudo');
  cluster = await startTestCluster({ scenario: 'demo' });
});
afterAll(async () => {
  printFigures('localizer connect killed with SIGKILL', figures);
  await cluster?.stop();
  for (const range of ranges) range.release();
});

/**
 * Starts connect with names in a sandbox, waits until it is connected, and returns how to kill it.
 * With `ownGroup`, connect leads a process group of its own, as a terminal gives a command, so a
 * signal to that group reaches connect, sudo and the helper, and not the sandbox's unshare.
 */
async function connectWithNames(user: SandboxUser | undefined, waitForConnected = true, ownGroup = false) {
  if (!cluster) throw new Error('the test cluster did not start');
  const original = '127.0.0.1\tlocalhost\n# a line of the user’s own\n';
  const sandbox = createHostsSandbox(original);
  const range = takeLocalizerRange();
  ranges.push(range);
  let kubeconfig = cluster.kubeconfigPath;
  if (user) {
    kubeconfig = join(mkdtempSync(join(tmpdir(), 'fault-user-')), 'config');
    copyFileSync(cluster.kubeconfigPath, kubeconfig);
    mkdirSync(sandbox.stateDirectory);
    for (const path of [dirname(kubeconfig), kubeconfig, sandbox.stateDirectory])
      chownSync(path, user.uid, user.gid);
  }
  const [first, ...rest] = ownGroup ? ['setsid', ...cliCommand] : cliCommand;
  const launch = inHostsSandbox(
    sandbox,
    first,
    [...rest, 'connect', '--kubeconfig', kubeconfig, '--ip-range', range.cidr],
    user,
  );
  const child = spawn(launch.command, launch.args, {
    env: { ...process.env, HOME: sandbox.stateDirectory, ...sandboxEnvironment(sandbox) },
    // As a terminal runs it: the CLI's own output is read by this process, which lives on.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  if (waitForConnected) {
    await expect
      .poll(() => output, { timeout: 45_000, message: 'connect should say it is connected with names' })
      .toContain('with names in /etc/hosts');
    expect(readFileSync(sandbox.hostsFile, 'utf8')).toContain('kv-0.kv.data.svc.cluster.local');
  }
  return { child, sandbox, original, output: () => output };
}

const cases: { name: string; user: () => SandboxUser | undefined; skip: () => string | undefined }[] = [
  {
    name: 'as root, helper started directly',
    user: () => undefined,
    skip: () => (isRoot ? undefined : 'the hosts sandbox needs real root'),
  },
  {
    name: 'as a user, helper started through sudo',
    user: () => ({
      uid: 65534,
      gid: 65534,
      name: 'nobody',
      mayElevate: [process.execPath, helperScript],
    }),
    skip: () =>
      isRoot && canRunAsSandboxUser() ? undefined : 'the sudo sandbox needs real root, sudo and setpriv',
  },
];

describe('SIGKILL of localizer connect', () => {
  for (const testCase of cases) {
    it(`${testCase.name}: the hosts file is back to its exact bytes within the grace period plus 1 s, and no process is left`, async () => {
      const why = testCase.skip();
      if (why) {
        console.log(`skipped: ${why}`);
        return;
      }
      const { child, sandbox, original } = await connectWithNames(testCase.user());
      const root = dirname(sandbox.hostsFile);
      // The CLI itself: the node process running main.ts.
      // (Not the sandbox's unshare, which stands for the terminal and lives on.)
      const cliProcesses = processesMarked(root).filter(
        (p) => p.args.includes(`${cliPath} connect`) && /^\S*node\S* /.test(p.args),
      );
      expect(cliProcesses.length, 'the CLI processes to kill').toBeGreaterThan(0);
      const killedAt = Date.now();
      for (const p of cliProcesses) process.kill(p.pid, 'SIGKILL');
      const deadline = helperGraceMs + 1000;
      await expect
        .poll(() => readFileSync(sandbox.hostsFile, 'utf8'), {
          timeout: deadline,
          interval: 50,
          message: `the names should be gone within ${String(deadline)} ms of the kill`,
        })
        .toBe(original);
      const restoredMs = Date.now() - killedAt;
      // The helper names the sandbox's socket directory on its command line, sudo too.
      const leftovers = () =>
        processesMarked(root)
          .filter((p) => p.pid !== child.pid)
          .map((p) => p.args);
      await expect
        .poll(leftovers, {
          timeout: 5000,
          message: 'the helper (and sudo) should exit once its names are removed',
        })
        .toEqual([]);
      figures.push({
        case: testCase.name,
        'hosts restored after (ms)': restoredMs,
        'names left': 0,
        'processes left': 0,
      });
      child.kill('SIGKILL');
    });
  }
});

describe('Ctrl-\\ (SIGQUIT to the whole process group) while localizer connect runs', () => {
  for (const testCase of cases) {
    it(`${testCase.name}: every name is removed within the grace period plus 1 s, and nothing is left running`, async () => {
      const why = testCase.skip();
      if (why) {
        console.log(`skipped: ${why}`);
        return;
      }
      const { child, sandbox, original } = await connectWithNames(testCase.user(), true, true);
      const root = dirname(sandbox.hostsFile);
      const leader = processesMarked(root).find(
        (p) => p.args.includes(`${cliPath} connect`) && /^\S*node\S* /.test(p.args),
      );
      if (!leader) throw new Error('connect is not running');
      const quitAt = Date.now();
      process.kill(-leader.pid, 'SIGQUIT');
      const deadline = helperGraceMs + 1000;
      await expect
        .poll(() => readFileSync(sandbox.hostsFile, 'utf8'), {
          timeout: deadline,
          interval: 50,
          message: `the names should be gone within ${String(deadline)} ms of Ctrl-\\`,
        })
        .toBe(original);
      const restoredMs = Date.now() - quitAt;
      const leftovers = () =>
        processesMarked(root)
          .filter((p) => p.pid !== child.pid)
          .map((p) => p.args);
      await expect
        .poll(leftovers, { timeout: 5000, message: 'connect, sudo and the helper should all be gone' })
        .toEqual([]);
      figures.push({
        case: `${testCase.name}, Ctrl-\\ to the group`,
        'hosts restored after (ms)': restoredMs,
        'names left': 0,
        'processes left': 0,
      });
      child.kill('SIGKILL');
    });
  }
});

describe('SIGKILL of localizer connect at a random moment of its start', () => {
  it('leaves the hosts file byte-exact and no process behind, whenever it lands (as root)', async () => {
    if (!isRoot) {
      console.log('skipped: the hosts sandbox needs real root');
      return;
    }
    // Connect reaches "Connected" in about 1.5–3 s here: kill anywhere in the first 3 s, as the
    // helper starts, as it writes the first names, or just after.
    for (const delayMs of killDelays(4, 3000)) {
      const { child, sandbox, original, output } = await connectWithNames(undefined, false);
      const root = dirname(sandbox.hostsFile);
      const startedAt = Date.now();
      await untilKillMoment(startedAt, delayMs);
      const cliProcesses = () =>
        processesMarked(root).filter(
          (candidate) => candidate.args.includes(`${cliPath} connect`) && /^\S*node\S* /.test(candidate.args),
        );
      // A moment before the sandbox has started the CLI is the moment it starts: a kill that
      // finds no CLI would leave it running, and test nothing.
      await expect
        .poll(() => cliProcesses().length, {
          timeout: 10_000,
          message: 'the CLI process to kill should start',
        })
        .toBeGreaterThan(0);
      const hadNames = readFileSync(sandbox.hostsFile, 'utf8') !== original;
      for (const p of cliProcesses()) process.kill(p.pid, 'SIGKILL');
      const killedAt = Date.now();
      const context = `killed ${String(delayMs)} ms into connect (replay with LOCALIZER_FAULT_DELAYS); it said: ${output()}`;
      await expect
        .poll(() => readFileSync(sandbox.hostsFile, 'utf8'), {
          timeout: helperGraceMs + 1000,
          interval: 50,
          message: `the hosts file should be back within the grace period plus 1 s, ${context}`,
        })
        .toBe(original);
      const restoredMs = Date.now() - killedAt;
      await expect
        .poll(
          () =>
            processesMarked(root)
              .filter((p) => p.pid !== child.pid)
              .map((p) => p.args),
          {
            timeout: 5000,
            message: `no helper or sudo should be left, ${context}`,
          },
        )
        .toEqual([]);
      figures.push({
        case: `connect killed ${String(delayMs)} ms into its start${hadNames ? ' (names written)' : ''}`,
        'hosts restored after (ms)': hadNames ? restoredMs : 0,
        'names left': 0,
        'processes left': 0,
      });
      child.kill('SIGKILL');
    }
  });
});

describe('SIGKILL of the privileged helper while connect runs', () => {
  for (const testCase of cases) {
    it(`${testCase.name}: connect starts another helper, the names stay right, and Ctrl-C still removes them all`, async () => {
      const why = testCase.skip();
      if (why) {
        console.log(`skipped: ${why}`);
        return;
      }
      const { child, sandbox, original, output } = await connectWithNames(testCase.user());
      const root = dirname(sandbox.hostsFile);
      const helpers = () =>
        // The helper's node process: not sudo, nor the sandbox's unshare, whose sudoers rule names it.
        processesMarked(root).filter((p) => p.args.includes(helperScript) && /^\S*node\S* /.test(p.args));
      const [helper] = helpers();
      expect(helper, 'the helper process').toBeDefined();
      const withNames = readFileSync(sandbox.hostsFile, 'utf8');
      const killedAt = Date.now();
      process.kill(helper?.pid ?? 0, 'SIGKILL');
      await pollUntil(
        () => output().includes('The privileged helper is back'),
        30_000,
        'connect to start another helper',
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; connect said:\n${output()}`);
      });
      const backMs = Date.now() - killedAt;
      // The new helper removed the dead one's block and wrote the same names in one block.
      const names = (text: string) =>
        text
          .split('\n')
          .filter((line) => line.startsWith('127.'))
          .sort();
      expect(names(readFileSync(sandbox.hostsFile, 'utf8'))).toEqual(names(withNames));
      expect(readFileSync(sandbox.hostsFile, 'utf8').match(/# BEGIN/g)?.length).toBe(1);
      const exited = new Promise((resolve) => child.once('close', resolve));
      // Ctrl-C reaches the CLI's node processes, not the sandbox's unshare and sh.
      const cli = processesMarked(root).filter(
        (p) => p.args.includes(`${cliPath} connect`) && /^\S*node\S* /.test(p.args),
      );
      expect(cli.length, 'the CLI processes').toBeGreaterThan(0);
      const interruptedAt = Date.now();
      for (const p of cli) process.kill(p.pid, 'SIGINT');
      await pollUntil(() => output().includes('Disconnected.'), 30_000, 'connect to say Disconnected').catch(
        (error: unknown) => {
          throw new Error(`${String(error)}; connect said:\n${output()}`);
        },
      );
      const disconnectMs = Date.now() - interruptedAt;
      await exited;
      expect(readFileSync(sandbox.hostsFile, 'utf8')).toBe(original);
      await expect
        .poll(() => processesMarked(root).map((p) => p.args), {
          timeout: 5000,
          message: 'no helper should be left after Ctrl-C',
        })
        .toEqual([]);
      figures.push({
        case: `helper killed, ${testCase.name}`,
        'names back after (ms)': backMs,
        'Ctrl-C to Disconnected (ms)': disconnectMs,
        'names left after Ctrl-C': 0,
        'processes left': 0,
      });
    });
  }
});

describe("SIGKILL of the app's main process", () => {
  it('the helper it started as sudo-prompt does (output captured through a shell) removes its names within the grace period plus 1 s', async () => {
    if (!isRoot) {
      console.log('skipped: the hosts sandbox needs real root');
      return;
    }
    const original = '127.0.0.1\tlocalhost\n';
    const sandbox = createHostsSandbox(original);
    const root = dirname(sandbox.hostsFile);
    const range = takeLocalizerRange();
    ranges.push(range);
    const ip = range.cidr.replace('.0.0/16', '.0.9');
    const launcher = fileURLToPath(new URL('./fixtures/app-helper-launcher.ts', import.meta.url));
    const launch = inHostsSandbox(sandbox, process.execPath, [
      '--import',
      'tsx',
      launcher,
      sandbox.socketDirectory,
      range.cidr,
      ip,
      'app.web.svc',
    ]);
    const child = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await pollUntil(
      () => output.includes('names written'),
      30_000,
      'the app stand-in to write its names',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; it said: ${output}`);
    });
    expect(readFileSync(sandbox.hostsFile, 'utf8')).toContain(`${ip}\tapp.web.svc`);
    const app = processesMarked(root).filter((p) => p.args.includes(launcher) && /^\S*node\S* /.test(p.args));
    expect(app.length, 'the app stand-in processes').toBeGreaterThan(0);
    const killedAt = Date.now();
    for (const p of app) process.kill(p.pid, 'SIGKILL');
    await expect
      .poll(() => readFileSync(sandbox.hostsFile, 'utf8'), {
        timeout: helperGraceMs + 1000,
        interval: 50,
        message: 'the names should be gone within the grace period plus 1 s',
      })
      .toBe(original);
    const restoredMs = Date.now() - killedAt;
    await expect
      .poll(() => processesMarked(sandbox.socketDirectory).map((p) => p.args), {
        timeout: 5000,
        message: 'the helper should exit',
      })
      .toEqual([]);
    figures.push({
      case: "the app's main process killed",
      'hosts restored after (ms)': restoredMs,
      'names left': 0,
      'processes left': 0,
    });
    child.kill('SIGKILL');
  });
});
