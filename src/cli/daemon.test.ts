/**
 * One Localizer per user, driven from other terminals: `localizer daemon` in one, and `connect`,
 * `expose` (with no kubeconfig), `list`, `status` and `disconnect` as its clients, each a real
 * process of the CLI. Then a SIGKILL of the daemon and the next one's cleanup after it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, connect as connectTcp, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import {
  createHostsSandbox,
  inHostsSandbox,
  sandboxedPid,
  sandboxEnvironment,
} from '../../e2e/support/hosts-sandbox';
import { run, type Background } from '../../e2e/support/processes';
import { freePort } from '../../e2e/support/sockets';
import { kubeClients } from '../../e2e/support/kube-clients';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { builtCli } from '../../e2e/support/built-localizer';

const nodeArgs = [builtCli];
const isRoot = process.getuid?.() === 0;
let cluster: TestCluster;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;

async function selectorOf(service: string): Promise<Record<string, string>> {
  return (await core.readNamespacedService({ namespace: 'web', name: service })).spec?.selector ?? {};
}
let laptop: Server;
let laptopPort: number;
const started: Background[] = [];
const range = takeLocalizerRange();

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'demo' });
  ({ apps, core } = kubeClients(cluster.kubeconfigPath));
  laptopPort = await freePort();
  laptop = createServer((socket) => socket.on('error', () => socket.destroy()).end('from the laptop\n'));
  await new Promise<void>((resolve) => laptop.listen(laptopPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const process of started) await process.stop();
  laptop.close();
  await cluster.stop();
  range.release();
});

/** A terminal with nothing set up: no KUBECONFIG, and a home without ~/.kube. */
function bareTerminal(state: string): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'daemon-home-'));
  return { LOCALIZER_STATE_DIR: state, HOME: home, KUBECONFIG: '' };
}

function localizer(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [...nodeArgs, ...args], { env, timeoutMs: 90_000 });
}

/** `localizer daemon`, as root in a hosts sandbox when it can be, so names are real but private. */
function startDaemon(state: string, sandbox: ReturnType<typeof createHostsSandbox> | undefined) {
  const launch = sandbox
    ? inHostsSandbox(sandbox, process.execPath, [...nodeArgs, 'daemon'])
    : { command: process.execPath, args: [...nodeArgs, 'daemon'] };
  const child = spawn(launch.command, launch.args, {
    env: { ...process.env, ...bareTerminal(state), ...(sandbox ? sandboxEnvironment(sandbox) : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const daemon: Background & { pid: () => Promise<number> } = {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const pid = await daemon.pid();
      process.kill(pid, 'SIGTERM');
      // A daemon that cannot finish undoing (the test failed halfway) must not outlive the test.
      const killLater = setTimeout(() => process.kill(pid, 'SIGKILL'), 20_000);
      await exited;
      clearTimeout(killLater);
    },
    // The daemon itself, not the unshare that started it (which would SIGKILL it on a signal).
    pid: async () => (sandbox ? sandboxedPid(child.pid ?? 0) : (child.pid ?? 0)),
  };
  started.push(daemon);
  return daemon;
}

/** What a server sends before it ends the connection; fails when it has not ended within 10 s. */
function read(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, host);
    let text = '';
    // An HTTP pod answers nothing to a client that sends nothing, for a minute: not what we want.
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`${host}:${String(port)} sent ${JSON.stringify(text)} and did not end within 10 s`));
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('localizer daemon and its clients', () => {
  it('connects, exposes without a kubeconfig, disconnects, refuses a second daemon, and after a SIGKILL the next daemon undoes what it left', async () => {
    const original = '127.0.0.1\tlocalhost\n# keep me\n';
    const sandbox = isRoot ? createHostsSandbox(original) : undefined;
    if (!sandbox) console.log('names not checked: the hosts sandbox needs root');
    const state = sandbox?.stateDirectory ?? mkdtempSync(join(tmpdir(), 'daemon-state-'));
    mkdirSync(state, { recursive: true });
    const terminal = bareTerminal(state);

    const daemon = startDaemon(state, sandbox);
    onTestFailed(() => console.log(`daemon output:\n${daemon.output()}`));
    await expect
      .poll(daemon.output, { timeout: 30_000, message: 'the daemon should say it runs' })
      .toContain('Localizer daemon running');
    const status = await localizer(['status'], terminal);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`\`localizer daemon\` (pid ${String(await daemon.pid())})`);
    expect(status.stdout).toContain('Contexts: none connected');

    // A service with no pod, as real clusters have (scaled to zero): connect must not wait for it.
    await kubeClients(cluster.kubeconfigPath).core.createNamespacedService({
      namespace: 'web',
      body: { metadata: { name: 'idle' }, spec: { selector: { app: 'idle' }, ports: [{ port: 80 }] } },
    });
    // connect returns once every service is settled, and the daemon holds the connection.
    const connected = await localizer(
      [
        'connect',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--ip-range',
        range.cidr,
        ...(sandbox ? [] : ['--no-names']),
      ],
      terminal,
    );
    expect(connected.code, connected.stdout + connected.stderr).toBe(0);
    expect(connected.stdout).toMatch(/\d+ of \d+ services ready/);
    expect(connected.stdout).toContain('; 1 waits for a ready pod (web/idle)');
    expect(connected.stdout).toContain(`It runs in \`localizer daemon\` (pid ${String(await daemon.pid())})`);
    const listed = JSON.parse((await localizer(['list', '--json'], terminal)).stdout) as {
      name: string;
      namespace: string;
      kind: string;
      status: string;
      ip: string | null;
    }[];
    const api = listed.find((t) => t.namespace === 'web' && t.name === 'api');
    expect(api).toMatchObject({ kind: 'forward', status: 'running' });
    if (sandbox) expect(readFileSync(sandbox.hostsFile, 'utf8')).toContain('api.web.svc.cluster.local');

    // expose from a terminal that knows no cluster: it uses the daemon's context.
    const exposed = await localizer(['expose', 'web/api', '--map', `${String(laptopPort)}:8080`], terminal);
    expect(exposed.code, exposed.stdout + exposed.stderr).toBe(0);
    expect(exposed.stdout).toContain(`web/api:8080 -> 127.0.0.1:${String(laptopPort)}`);
    // A takeover, the default: the Service points at the SSH pod, its pods keep running.
    expect(Object.keys(await selectorOf('api'))).toEqual(['localizer.dev/intercept']);
    expect((await apps.readNamespacedDeployment({ namespace: 'web', name: 'api' })).spec?.replicas).toBe(2);
    // The cluster's web/api, reached through the daemon's forward, is now the laptop, from the
    // first connection after expose returns (it waits for its own forward to follow).
    expect(await read(api?.ip ?? '', 8080)).toBe('from the laptop\n');

    // --ssh-image travels to the daemon: an image it cannot pull is refused, naming the image.
    const badImage = await localizer(
      ['expose', 'web/frontend', '--ssh-image', 'registry.invalid/no-sshd:1', '--ssh-user', 'abc:911'],
      terminal,
    );
    expect(badImage.code).toBe(1);
    expect(badImage.stderr).toContain('The SSH image setting (now registry.invalid/no-sshd:1)');
    expect((await apps.readNamespacedDeployment({ namespace: 'web', name: 'frontend' })).spec?.replicas).toBe(
      2,
    );

    // A second daemon refuses, naming the running one.
    const second = await localizer(['daemon'], terminal);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`\`localizer daemon\` (pid ${String(await daemon.pid())}) owns ${state}`);

    // disconnect stops the connection and the expose in it, and removes the names.
    const disconnected = await localizer(['disconnect'], terminal);
    expect(disconnected.code, disconnected.stderr).toBe(0);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    if (sandbox)
      await expect
        .poll(() => readFileSync(sandbox.hostsFile, 'utf8'), {
          timeout: 10_000,
          message: 'names should be gone',
        })
        .toBe(original);
    expect((await localizer(['list'], terminal)).stdout).toContain('No tunnels');

    // A SIGKILL mid-expose (a scale-down this time): the next daemon restores the workload and says so.
    const again = await localizer(
      ['expose', 'web/frontend', '--scale-down', '--kubeconfig', cluster.kubeconfigPath],
      terminal,
    );
    expect(again.code, again.stderr).toBe(0);
    process.kill(await daemon.pid(), 'SIGKILL');
    await expect
      .poll(() => daemon.child.exitCode ?? daemon.child.signalCode, { timeout: 10_000 })
      .not.toBeNull();
    expect((await apps.readNamespacedDeployment({ namespace: 'web', name: 'frontend' })).spec?.replicas).toBe(
      0,
    );
    const notRunning = await localizer(['status'], terminal);
    expect(notRunning.code).toBe(3);
    expect(notRunning.stdout).toContain('Localizer is not running');

    const next = startDaemon(state, sandbox);
    await expect
      .poll(next.output, { timeout: 30_000, message: 'the next daemon should undo what the killed one left' })
      .toContain('Cleanup: restored Deployment web/frontend to 2 replicas.');
    expect(next.output()).toContain('An earlier Localizer was stopped without cleaning up');
    expect((await apps.readNamespacedDeployment({ namespace: 'web', name: 'frontend' })).spec?.replicas).toBe(
      2,
    );
    await next.stop();
    expect(next.output()).toContain('Stopped.');
    if (sandbox) expect(readFileSync(sandbox.hostsFile, 'utf8')).toBe(original);
  }, 180_000);
});
