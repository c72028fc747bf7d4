/** The `localizer` CLI as a user runs it, against a real test cluster. */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { processesMarked } from '../../e2e/support/leftovers';
import { run } from '../../e2e/support/processes';
import {
  canRunAsSandboxUser,
  createHostsSandbox,
  inHostsSandbox,
  sandboxEnvironment,
} from '../../e2e/support/hosts-sandbox';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { builtCli, builtHelper } from '../../e2e/support/built-localizer';

const cliArgs = [builtCli];
const isRoot = process.getuid?.() === 0;
let cluster: TestCluster;
const ranges: { release: () => void }[] = [];

function localizer(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, [...cliArgs, ...args], {
    env: { LOCALIZER_STATE_DIR: mkdtempSync(join(tmpdir(), 'cli-state-')), ...env },
    timeoutMs: 45_000,
  });
}

/** `localizer connect` without names, on an address range of its own, run to its exit. */
function connectOnce(kubeconfig: string) {
  return localizer(['connect', '--kubeconfig', kubeconfig, '--no-names', '--ip-range', ipRange()]);
}

/** A loopback /16 no engine or cluster in another test file can share. */
function ipRange(): string {
  const range = takeLocalizerRange();
  ranges.push(range);
  return range.cidr;
}

beforeAll(async () => {
  requireSystemTools('utilLinux', 'procps');
  cluster = await startTestCluster({ scenario: 'demo' });
});
afterAll(async () => {
  await cluster.stop();
  for (const range of ranges) range.release();
});

describe("a command's help", () => {
  it('is printed for COMMAND --help, -h and help COMMAND, with exit 0, and --help after -- is left to the program run; an unknown command is named', async () => {
    for (const args of [
      ['env', '--help'],
      ['connect', '-h'],
      ['help', 'expose'],
      ['expose', 'web/api', '--help'],
    ]) {
      const result = await localizer(args);
      expect(result.code, args.join(' ')).toBe(0);
      const command = args[0] === 'help' ? args[1] : args[0];
      expect(result.stdout, args.join(' ')).toMatch(
        new RegExp(`^Usage:\\n {2}localizer ${String(command)} `),
      );
      expect(result.stdout, args.join(' ')).not.toContain('localizer daemon');
    }
    // Not ours: `run` hands it to the command, which fails here without a cluster answer first.
    const run = await localizer(['run', 'web/api', '--', 'node', '--help'], { KUBECONFIG: '/nonexistent' });
    expect(run.stdout).not.toMatch(/^Usage:/);

    // A command that does not exist is named, with every command after it, on stderr: exit 2.
    const unknown = await localizer(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(
      /^localizer: there is no command "frobnicate"; these are:\n\nUsage:\n {2}localizer daemon\n/,
    );
    const helpUnknown = await localizer(['help', 'frobnicate']);
    expect(helpUnknown.code).toBe(2);
    expect(helpUnknown.stderr).toMatch(/^localizer: there is no command "frobnicate"; these are:/);
    // Asked for: stdout, exit 0.
    const all = await localizer(['--help']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^Usage:\n {2}localizer daemon\n/);
  });
});

describe('localizer connect refuses bad input with a message and a non-zero exit', () => {
  it('names the missing kubeconfig', async () => {
    const result = await localizer(['connect', '--kubeconfig', '/nonexistent/kubeconfig', '--no-names']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('No kubeconfig found at /nonexistent/kubeconfig');
  });

  it('says which state directory it cannot create, and how to choose another', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cli-file-')), 'not-a-directory');
    writeFileSync(file, '');
    const result = await localizer(
      ['connect', '--kubeconfig', cluster.kubeconfigPath, '--no-names', '--ip-range', ipRange()],
      { LOCALIZER_STATE_DIR: join(file, 'state') },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `localizer: cannot mkdir ${join(file, 'state')}: a part of that path is a file, not a directory. Localizer keeps its state in ${join(file, 'state')}: make it yours (\`ls -ld\` shows the owner), or set LOCALIZER_STATE_DIR to a directory you can write.\n`,
    );
  });

  it('lists the known contexts for an unknown one', async () => {
    const result = await localizer([
      'connect',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--context',
      'prod',
      '--no-names',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('There is no context "prod"');
    expect(result.stderr).toContain('localizer-test, localizer-test-restricted');
  });

  it('says the API server cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const dir = mkdtempSync(join(tmpdir(), 'unreachable-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      readFileSync(cluster.kubeconfigPath, 'utf8').replace(cluster.server, `https://127.0.0.1:${port}`),
    );
    const result = await connectOnce(kubeconfig);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `Cannot reach the Kubernetes API server at https://127.0.0.1:${port}: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}.`,
    );
  });

  it('refuses an address range too small to give every service its own IP', async () => {
    const result = await localizer([
      'connect',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--ip-range',
      '127.77.0.0/28',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--ip-range 127.77.0.0/28 is too small');
  });

  it('explains an expired or revoked token', async () => {
    const isolated = await startTestCluster({ scenario: 'empty' });
    try {
      isolated.faults.revokeToken('admin');
      const result = await connectOnce(isolated.kubeconfigPath);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('rejected the credentials of context "localizer-test" (401)');
    } finally {
      await isolated.stop();
    }
  });
});

/**
 * The cluster's kubeconfig with the admin user's token replaced by an exec credential plugin (as
 * cloud providers' login tools are): a real program that prints an ExecCredential, or fails.
 */
function kubeconfigWithExecPlugin(script: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'exec-plugin-'));
  const plugin = join(directory, 'corp-login');
  writeFileSync(plugin, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  const original = readFileSync(cluster.kubeconfigPath, 'utf8');
  const token = /^ {4}token: "(.+)"$/m.exec(original)?.[1] ?? '';
  const kubeconfig = join(directory, 'config');
  writeFileSync(
    kubeconfig,
    original.replace(
      `    token: "${token}"`,
      [
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        `      command: ${JSON.stringify(plugin)}`,
        '      interactiveMode: Never',
        '      env:',
        '      - name: CORP_TOKEN',
        `        value: ${JSON.stringify(token)}`,
      ].join('\n'),
    ),
    { mode: 0o600 },
  );
  return kubeconfig;
}

/** What a login tool prints once its user is signed in: the token, as an ExecCredential. */
const printCredential =
  'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}\' "$CORP_TOKEN"';

/** Runs `localizer connect` until it says it is connected, then Ctrl-C; its output. */
async function connectUntilConnected(kubeconfig: string): Promise<string> {
  const state = mkdtempSync(join(tmpdir(), 'cli-state-'));
  const child = spawn(
    process.execPath,
    [...cliArgs, 'connect', '--kubeconfig', kubeconfig, '--no-names', '--ip-range', ipRange()],
    { env: { ...process.env, LOCALIZER_STATE_DIR: state } },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await expect
      .poll(() => output, { timeout: 30_000, message: 'connect should finish with the plugin token' })
      .toMatch(/(\d+) of \1 services ready[\s\S]*Connected: /);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
  return output;
}

describe('localizer connect with an exec credential plugin', () => {
  it('connects with the token the plugin prints', async () => {
    await connectUntilConnected(kubeconfigWithExecPlugin(printCredential));
  });

  it('says what it waits for while a plugin takes its time (a sign-in), then connects', async () => {
    // A login tool waiting on its user: 7 s before it answers, past the 5 s connect waits quietly.
    const output = await connectUntilConnected(kubeconfigWithExecPlugin(`sleep 7; ${printCredential}`));
    expect(output, 'the note names the plugin and what to do').toMatch(
      /Still waiting for the credential plugin "\S+corp-login" of context "localizer-test": a sign-in it waits for cannot show here .* Sign in with it, or your cloud CLI, in another terminal/,
    );
    expect(output.indexOf('Still waiting for'), 'the note comes before the connect finishes').toBeLessThan(
      output.indexOf('services ready'),
    );
  });

  it('blames the API server, not a plugin that has answered, when the server is the wait', async () => {
    // A server that takes connections and never answers them (a VPN half up, a firewall).
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = `https://127.0.0.1:${String((silent.address() as { port: number }).port)}`;
    const kubeconfig = kubeconfigWithExecPlugin(printCredential);
    writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(cluster.server, address));
    try {
      const result = await connectOnce(kubeconfig);
      expect(result.code).toBe(2);
      expect(result.stdout).toContain(
        `Still waiting for the API server at ${address} (context localizer-test)…`,
      );
      expect(result.stdout).not.toContain('Still waiting for the credential plugin');
      expect(result.stderr).toContain(`Cannot reach the Kubernetes API server at ${address}: fetch failed:`);
    } finally {
      silent.close();
    }
  });

  it('names the plugin and passes on what it said when it fails', async () => {
    const kubeconfig = kubeconfigWithExecPlugin('echo "session expired: run corp-login --renew" >&2; exit 1');
    const result = await connectOnce(kubeconfig);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /The credential plugin "\S+\/corp-login" of context "localizer-test" failed: session expired: run corp-login --renew\. Run it yourself/,
    );
  });
});

describe('localizer list', () => {
  it('says when no instance is running', async () => {
    const result = await localizer(['list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Localizer is not running');
  });

  it('reports a stale control socket left by a killed instance', async () => {
    const state = mkdtempSync(join(tmpdir(), 'stale-state-'));
    const socketPath = join(state, 'control.sock');
    const listener = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => listener.stdout.once('data', resolve));
    listener.kill('SIGKILL');
    await new Promise((resolve) => listener.once('close', resolve));
    const result = await run(process.execPath, [...cliArgs, 'list'], { env: { LOCALIZER_STATE_DIR: state } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is left from an instance that stopped without cleaning up');
  });
});

describe('localizer connect with names, in a sandbox', () => {
  it('run by an unprivileged user, writes every name form through sudo and the helper, answers on each, lists the tunnels, and removes the names on Ctrl-C', async () => {
    if (!isRoot || !canRunAsSandboxUser()) {
      console.log(
        'skipped: the helper sandbox here needs real root (mount namespace sharing the host network), sudo and setpriv',
      );
      return;
    }
    const original = '127.0.0.1\tlocalhost\n# keep me\n';
    const sandbox = createHostsSandbox(original);
    const { hostsFile } = sandbox;
    const state = sandbox.stateDirectory;
    // The user's own files, as on a laptop: a kubeconfig only they can read, their state directory.
    const nobody = 65534;
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'cli-user-')), 'config');
    copyFileSync(cluster.kubeconfigPath, kubeconfig);
    mkdirSync(state);
    for (const path of [dirname(kubeconfig), kubeconfig, state]) chownSync(path, nobody, nobody);
    const launch = inHostsSandbox(
      sandbox,
      process.execPath,
      [...cliArgs, 'connect', '--kubeconfig', kubeconfig, '--ip-range', ipRange()],
      {
        uid: nobody,
        gid: nobody,
        name: 'nobody',
        mayElevate: [process.execPath, builtHelper],
      },
    );
    // A process group of its own, as a terminal gives the commands it runs: Ctrl-C below
    // reaches all of them, connect, sudo and the helper, as it does in a terminal.
    const child: ChildProcess = spawn(launch.command, launch.args, {
      env: { ...process.env, HOME: state, ...sandboxEnvironment(sandbox) },
      detached: true,
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await expect
      .poll(() => output, { timeout: 30_000, message: 'connect should finish' })
      .toContain('with names in /etc/hosts');
    // Once: the foreground connect is both the asker and the instance's log.
    expect(output.split('sudo may ask for your password').length - 1).toBe(1);
    await expect
      .poll(() => readFileSync(hostsFile, 'utf8'), { timeout: 10_000 })
      .toContain('kv-2.kv.data.svc.cluster.local');
    // Only the helper runs as root; connect itself is the user's. Only this sandbox's processes
    // count (its directory is in their environment or command line): other tests run connect too.
    const ours = processesMarked(dirname(hostsFile)).filter((p) => /^\S*node\S* /.test(p.args));
    // The CLI's node process, not the sandbox's unshare and sh.
    const connectUids = ours.filter((p) => p.args.includes(`${builtCli} connect`)).map((p) => p.uid);
    expect(connectUids.length).toBeGreaterThan(0);
    expect(new Set(connectUids)).toEqual(new Set([nobody]));
    const helper = ours.filter((p) => p.args.includes(builtHelper));
    expect(helper.map((p) => p.uid)).toEqual([0]);

    // Resolve through the sandbox's /etc/hosts, as every program on the laptop would.
    const inSandbox = (code: string) =>
      run('nsenter', ['--mount', `--target=${String(child.pid)}`, process.execPath, '-e', code]);
    const fetchJson = (url: string) =>
      `fetch(${JSON.stringify(url)}).then((r) => r.json()).then((j) => console.log(JSON.stringify(j)))`;
    for (const url of [
      'http://frontend.web/',
      'http://frontend.web.svc/',
      'http://frontend.web.svc.cluster.local/',
      'http://api.web:9090/',
      'http://kv-1.kv.data:6379/',
      'http://kv-2.kv.data.svc.cluster.local:6379/',
    ]) {
      const result = await inSandbox(fetchJson(url));
      expect(result.stderr, url).toBe('');
      const answer = JSON.parse(result.stdout) as { pod: string; namespace: string };
      if (url.includes('kv-1')) expect(answer.pod).toBe('kv-1');
      if (url.includes('kv-2')) expect(answer.pod).toBe('kv-2');
      if (url.includes('.web')) expect(answer.namespace).toBe('web');
    }

    // A .local name also has its address as IPv4-mapped IPv6 (what macOS's lookup needs to skip
    // mDNS); a program that connects to that form reaches the same forward.
    const lookup = await inSandbox(
      `require('node:dns').lookup('kv-2.kv.data.svc.cluster.local', { all: true }, (e, a) => console.log(JSON.stringify(e ? e.message : a)))`,
    );
    const addresses = JSON.parse(lookup.stdout) as { address: string; family: number }[];
    const v4 = addresses.find((a) => a.family === 4)?.address ?? '';
    expect(addresses).toEqual(
      expect.arrayContaining([
        { address: v4, family: 4 },
        { address: `::ffff:${v4}`, family: 6 },
      ]),
    );
    const overIpv6 = await inSandbox(fetchJson(`http://[::ffff:${v4}]:6379/`));
    expect((JSON.parse(overIpv6.stdout) as { pod: string }).pod).toBe('kv-2');

    const listed = await run(process.execPath, [...cliArgs, 'list', '--json'], {
      env: { LOCALIZER_STATE_DIR: state },
    });
    const tunnels = JSON.parse(listed.stdout) as {
      namespace: string;
      name: string;
      kind: string;
      status: string;
      hostnames: string[];
      ports: unknown[];
    }[];
    expect(tunnels.find((t) => t.name === 'frontend')).toMatchObject({
      kind: 'forward',
      status: 'running',
      hostnames: ['frontend.web', 'frontend.web.svc', 'frontend.web.svc.cluster.local'],
      ports: [{ port: 80, targetPort: 'http', protocol: 'TCP' }],
    });
    const table = await run(process.execPath, [...cliArgs, 'list'], { env: { LOCALIZER_STATE_DIR: state } });
    expect(table.stdout.split('\n')[0]).toMatch(
      /^NAMESPACE\s+NAME\s+STATUS\s+REASON\s+ENDPOINT\s+IP\s+PORTS$/,
    );
    expect(table.stdout).toMatch(
      /web\s+api\s+running\s+-\s+api-\S+\s+127\.\d+\.\d+\.\d+\s+8080->8080\/tcp,9090->metrics\/tcp/,
    );

    // Ctrl-C in a terminal: SIGINT to the whole process group, the helper included. (unshare
    // itself ignores it while its child runs, and exits with the child's status.)
    if (child.pid === undefined) throw new Error('connect has no pid');
    process.kill(-child.pid, 'SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('Disconnected.');
    expect(output, 'connect must not restart a helper while it stops').not.toContain(
      'The privileged helper stopped',
    );
    expect(readFileSync(hostsFile, 'utf8')).toBe(original);
  });

  it('run by a user on a machine without sudo, says once that names need it and what to do, and serves every service by its address', async () => {
    if (!isRoot || !existsSync('/usr/bin/setpriv')) {
      console.log('skipped: running connect as another user needs real root and setpriv');
      return;
    }
    const nobody = 65534;
    const home = mkdtempSync(join(tmpdir(), 'cli-no-sudo-'));
    const bin = join(home, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const kubeconfig = join(home, 'config');
    copyFileSync(cluster.kubeconfigPath, kubeconfig);
    const state = join(home, 'state');
    mkdirSync(state);
    for (const path of [home, kubeconfig, state]) chownSync(path, nobody, nobody);
    // As that user, with only node on PATH (no sudo to start the helper with).
    const asUser = [`--reuid=${String(nobody)}`, `--regid=${String(nobody)}`, '--clear-groups', '--'];
    const environment = [`PATH=${bin}`, `HOME=${home}`, `LOCALIZER_STATE_DIR=${state}`];
    const connect = [...cliArgs, 'connect', '--kubeconfig', kubeconfig, '--ip-range', ipRange()];
    const child = spawn('setpriv', [...asUser, 'env', ...environment, 'node', ...connect], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await expect
      .poll(() => output, { timeout: 30_000, message: 'connect should finish' })
      .toContain('Connected:');
    const once = (text: string) => output.split(text).length - 1;
    expect(once('sudo is not installed or not on PATH; install sudo'), output).toBe(1);
    expect(once('Services stay reachable by their IP'), output).toBe(1);
    // Port 80 needs the helper too; the others answer on their addresses.
    expect(output).toMatch(/web\s+frontend\s+failed\s+port 80 needs the privileged helper/);
    const api = /web\s+api\s+running\s+-\s+api-\S+\s+(127\.\d+\.\d+\.\d+)\s/.exec(output)?.[1];
    expect(api, output).toBeDefined();
    const answer = (await (await fetch(`http://${String(api)}:8080/`)).json()) as { namespace: string };
    expect(answer.namespace).toBe('web');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('Disconnected.');
  });
});

describe('localizer connect with two contexts, in a sandbox', () => {
  it('gives every service of both contexts its own address, and a shared name to the first context', async () => {
    if (!isRoot) {
      console.log(
        'skipped: the helper sandbox here needs real root (mount namespace sharing the host network)',
      );
      return;
    }
    const sandbox = createHostsSandbox('127.0.0.1\tlocalhost\n');
    const { hostsFile } = sandbox;
    const state = sandbox.stateDirectory;
    const launch = inHostsSandbox(sandbox, process.execPath, [
      ...[...cliArgs, 'connect', '--kubeconfig', cluster.kubeconfigPath, '--ip-range', ipRange()],
      ...['--context', cluster.contexts.admin, '--context', cluster.contexts.restricted],
    ]);
    const child = spawn(launch.command, launch.args, {
      env: { ...process.env, ...sandboxEnvironment(sandbox) },
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await expect
      .poll(() => output, { timeout: 30_000, message: 'connect should finish' })
      .toContain('with names in /etc/hosts');

    const listed = await run(process.execPath, [...cliArgs, 'list', '--json'], {
      env: { LOCALIZER_STATE_DIR: state },
    });
    const tunnels = JSON.parse(listed.stdout) as {
      context: string;
      namespace: string;
      name: string;
      ip: string | null;
      hostnames: string[];
      reason: string;
    }[];
    const frontends = tunnels.filter((t) => t.namespace === 'web' && t.name === 'frontend');
    expect(frontends.map((t) => t.context).sort()).toEqual(
      [cluster.contexts.admin, cluster.contexts.restricted].sort(),
    );
    expect(new Set(frontends.map((t) => t.ip)).size).toBe(2);
    const second = frontends.find((t) => t.context === cluster.contexts.restricted);
    expect(second?.hostnames).toEqual(['frontend']);
    expect(second?.reason).toContain(
      `frontend.web, frontend.web.svc, frontend.web.svc.cluster.local are taken by context ${cluster.contexts.admin}`,
    );
    const addresses = tunnels.flatMap((t) => (t.ip ? [t.ip] : []));
    expect(new Set(addresses).size, 'no two services share an address').toBe(addresses.length);
    const names = readFileSync(hostsFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('127.'))
      .flatMap((line) => line.split(/\s+/).slice(1));
    expect(new Set(names).size, 'no name appears twice in /etc/hosts').toBe(names.length);

    const table = await run(process.execPath, [...cliArgs, 'list'], { env: { LOCALIZER_STATE_DIR: state } });
    expect(table.stdout.split('\n')[0]).toMatch(/^CONTEXT\s+NAMESPACE\s+NAME/);

    // With two contexts connected, a command that names none asks which; an unknown one lists them.
    const terminal = { LOCALIZER_STATE_DIR: state, KUBECONFIG: '' };
    const ambiguous = await run(process.execPath, [...cliArgs, 'expose', 'web/api'], { env: terminal });
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain(
      `Several contexts are connected (${cluster.contexts.admin}, ${cluster.contexts.restricted}): pick one with --context.`,
    );
    const unknown = await run(process.execPath, [...cliArgs, 'disconnect', '--context', 'prod'], {
      env: terminal,
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      `prod is not connected; connected: ${cluster.contexts.admin}, ${cluster.contexts.restricted}.`,
    );
    const status = await run(process.execPath, [...cliArgs, 'status'], { env: terminal });
    expect(status.stdout).toMatch(new RegExp(`${cluster.contexts.restricted}\\s+connected\\s+(\\d+)/\\1`));
    // Disconnecting one context leaves the other, and its names, as they were.
    const one = await run(
      process.execPath,
      [...cliArgs, 'disconnect', '--context', cluster.contexts.restricted],
      {
        env: terminal,
      },
    );
    expect(one.code, one.stderr).toBe(0);
    const left = JSON.parse(
      (await run(process.execPath, [...cliArgs, 'list', '--json'], { env: terminal })).stdout,
    ) as {
      context: string;
    }[];
    expect(new Set(left.map((t) => t.context))).toEqual(new Set([cluster.contexts.admin]));
    expect(readFileSync(hostsFile, 'utf8')).toContain('frontend.web.svc.cluster.local');

    // Ctrl-C to the whole process group, the helper (run directly, as root) included.
    if (child.pid === undefined) throw new Error('connect has no pid');
    process.kill(-child.pid, 'SIGINT');
    expect(await exited).toBe(0);
    expect(output).not.toContain('The privileged helper stopped');
    expect(readFileSync(hostsFile, 'utf8')).toBe('127.0.0.1\tlocalhost\n');
  });
});
