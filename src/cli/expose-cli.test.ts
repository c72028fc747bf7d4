/**
 * `localizer expose`, `--stop`, `list` and `cleanup` as a user runs them, including a SIGKILL of
 * the exposing process and the restart after it.
 */
import { mkdtempSync } from 'node:fs';
import { connect as connectTcp, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRules } from '../../e2e/cluster/api/auth';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import { freePort } from '../../e2e/support/sockets';
import { labels } from '../main/engine/expose/ssh-pod';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { kubeClients } from '../../e2e/support/kube-clients';
import type { TunnelStatus } from '../shared/tunnel-status';
import { builtCli } from '../../e2e/support/built-localizer';

const nodeArgs = [builtCli];
let cluster: TestCluster;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;
const background: Background[] = [];
let laptop: Server;
let laptopPort: number;

function environment(state: string): NodeJS.ProcessEnv {
  return { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster.kubeconfigPath };
}

function localizer(args: string[], state: string) {
  return run(process.execPath, [...nodeArgs, ...args], { env: environment(state) });
}

function exposeInBackground(args: string[], state: string): Background {
  const started = runInBackground(process.execPath, [...nodeArgs, 'expose', ...args], {
    env: environment(state),
  });
  background.push(started);
  return started;
}

/** One TCP connection to an echo server, kept open across the steps of a test. */
async function connectedEcho(host: string, port: number) {
  const socket = connectTcp({ host, port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  return {
    async say(line: string): Promise<string> {
      received = '';
      socket.write(line);
      await expect
        .poll(() => received, { timeout: 10_000, message: `the echo of ${line.trim()}` })
        .toBe(line);
      return received;
    },
    close: () => socket.destroy(),
  };
}

/** A foreground `localizer connect` (no names), once it says it is connected. */
async function connected(state: string, cidr: string): Promise<Background> {
  const connect = runInBackground(
    process.execPath,
    [...nodeArgs, 'connect', '--no-names', '--ip-range', cidr],
    {
      env: environment(state),
    },
  );
  background.push(connect);
  await expect.poll(connect.output, { timeout: 30_000 }).toContain('Connected:');
  return connect;
}

async function selectorOf(name: string): Promise<Record<string, string>> {
  return (await core.readNamespacedService({ namespace: 'web', name })).spec?.selector ?? {};
}

async function replicas(name: string): Promise<number | undefined> {
  return (await apps.readNamespacedDeployment({ namespace: 'web', name })).spec?.replicas;
}

/** Polls until no SSH pod or Secret of ours is left: a deleted pod terminates gracefully first. */
async function expectNoLeftovers(): Promise<void> {
  const count = async (): Promise<number> => {
    const [pods, secrets] = await Promise.all([
      core.listPodForAllNamespaces({ labelSelector: labels.session }),
      core.listSecretForAllNamespaces({ labelSelector: labels.session }),
    ]);
    return pods.items.length + secrets.items.length;
  };
  await expect.poll(count, { timeout: 15_000, message: 'no SSH pod or Secret should be left' }).toBe(0);
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'demo' });
  ({ apps, core } = kubeClients(cluster.kubeconfigPath));
  laptopPort = await freePort();
  laptop = createServer((socket) => socket.on('error', () => socket.destroy()).end('laptop\n'));
  await new Promise<void>((resolve) => laptop.listen(laptopPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const started of background) await started.stop();
  laptop.close();
  await cluster.stop();
});

describe('localizer expose', () => {
  it('refuses a target without a namespace and a mapping that is not LOCAL:REMOTE', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const bare = await localizer(['expose', 'api'], state);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('"api" is not NAMESPACE/SERVICE');
    const badPort = await localizer(['expose', 'web/api', '--map', '99999:http'], state);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--map "99999:http" is not LOCAL:REMOTE');
    expect(await replicas('api')).toBe(2);
  });

  it('says on one line why an SSH image cannot start, in the foreground as through a daemon, and changes nothing', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const badImage = await localizer(
      ['expose', 'web/frontend', '--ssh-image', 'registry.invalid/no-sshd:1', '--ssh-user', 'abc:911'],
      state,
    );
    expect(badImage.code).toBe(1);
    // Not Node's report of an uncaught error (the source line, a stack, 'Node.js v20…').
    expect(badImage.stderr).toMatch(
      /^localizer: The SSH pod localizer-frontend-\S+ cannot start \(ErrImagePull/,
    );
    expect(badImage.stderr).toContain('The SSH image setting (now registry.invalid/no-sshd:1)');
    expect(badImage.stderr.trim().split('\n')).toHaveLength(1);
    expect(await selectorOf('frontend')).toEqual({ app: 'frontend' });
    expect(await replicas('frontend')).toBe(2);
    await expectNoLeftovers();
  });

  it('runs in the foreground, shows in list, and --stop from another terminal gives the service back', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const expose = exposeInBackground(['web/api', '--map', `${String(laptopPort)}:http`], state);
    await expect
      .poll(expose.output, { timeout: 30_000, message: 'expose should report it is running' })
      .toContain(`web/api:8080 -> 127.0.0.1:${String(laptopPort)}`);
    expect(Object.keys(await selectorOf('api'))).toEqual(['localizer.dev/intercept']);
    expect(await replicas('api')).toBe(2);

    const listed = await localizer(['list', '--json'], state);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({
        namespace: 'web',
        name: 'api',
        kind: 'expose',
        status: 'running',
        mode: 'takeover',
        reason: expect.stringContaining('connections already open to its pods stay on them') as unknown,
        ports: [{ port: 8080, targetPort: laptopPort, protocol: 'TCP' }],
      }),
    ]);

    const stop = await localizer(['expose', 'web/api', '--stop'], state);
    expect(stop.stdout).toContain('Stopped: web/api is served by its own pods again.');
    expect(stop.code).toBe(0);
    await expect.poll(() => expose.child.exitCode, { timeout: 15_000 }).toBe(0);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    await expectNoLeftovers();
  });

  it.each([
    // While it undoes an earlier run's leftovers, before the expose itself has begun.
    ['as it begins', /Exposing web\/api…\n/],
    // Making the SSH pod takes seconds more.
    ['after its first step', /Exposing web\/api…\n {2}\S/],
  ])(
    'stops at once on a Ctrl-C %s: never says it runs, gives the service back, leaves nothing',
    async (_, moment) => {
      const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
      const expose = exposeInBackground(['web/api', '--map', `${String(laptopPort)}:http`], state);
      await expect
        .poll(expose.output, { timeout: 30_000, message: `the expose to print ${String(moment)}` })
        .toMatch(moment);
      expose.child.kill('SIGINT');
      await expect
        .poll(() => expose.child.exitCode, { timeout: 30_000, message: 'the expose to exit after Ctrl-C' })
        .not.toBeNull();
      expect(expose.output()).not.toContain('Exposed:');
      expect(expose.output()).not.toContain('Press Ctrl-C');
      expect(expose.output()).toContain('Stopped: the service is served by its own pods again.');
      expect(expose.child.exitCode, expose.output()).toBe(0);
      expect(await selectorOf('api')).toEqual({ app: 'api' });
      await expectNoLeftovers();
    },
  );

  it('with --scale-down, scales the workloads to zero while it runs, and restores them on --stop', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const expose = exposeInBackground(
      ['web/api', '--scale-down', '--map', `${String(laptopPort)}:http`],
      state,
    );
    await expect
      .poll(expose.output, { timeout: 30_000, message: 'expose should report it is running' })
      .toContain(`web/api:8080 -> 127.0.0.1:${String(laptopPort)}`);
    expect(await replicas('api')).toBe(0);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    const stop = await localizer(['expose', 'web/api', '--stop'], state);
    expect(stop.code, stop.stderr).toBe(0);
    await expect.poll(() => expose.child.exitCode, { timeout: 15_000 }).toBe(0);
    expect(await replicas('api')).toBe(2);
    await expectNoLeftovers();
  });

  it('after a SIGKILL, the next expose restores what the killed one left, and says so', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const killed = exposeInBackground(['web/frontend', '--map', `${String(laptopPort)}:http`], state);
    await expect
      .poll(killed.output, { timeout: 30_000, message: 'expose should report it is running' })
      .toContain('Exposed:');
    killed.child.kill('SIGKILL');
    await expect.poll(() => killed.child.signalCode, { timeout: 5_000 }).toBe('SIGKILL');
    expect(Object.keys(await selectorOf('frontend'))).toEqual(['localizer.dev/intercept']);

    const restarted = exposeInBackground(['web/frontend', '--map', `${String(laptopPort)}:http`], state);
    await expect
      .poll(restarted.output, { timeout: 30_000, message: 'the restart should report it is running' })
      .toContain('Exposed:');
    expect(restarted.output()).toContain(
      'Cleanup: gave Service web/frontend its own selector back (app=frontend).',
    );
    expect(restarted.output()).toMatch(/Cleanup: deleted SSH pod web\/localizer-frontend-/);
    await restarted.stop();
    expect(restarted.output()).toContain('Stopped: the service is served by its own pods again.');
    expect(await selectorOf('frontend')).toEqual({ app: 'frontend' });
    expect(await replicas('frontend')).toBe(2);
    await expectNoLeftovers();
  });

  it('cleanup undoes a killed expose on demand, and leaves another owner’s alone without --force', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const killed = exposeInBackground(
      ['web/api', '--scale-down', '--map', `${String(laptopPort)}:http`],
      state,
    );
    await expect.poll(killed.output, { timeout: 30_000 }).toContain('Exposed:');
    killed.child.kill('SIGKILL');
    await expect.poll(() => killed.child.signalCode, { timeout: 5_000 }).toBe('SIGKILL');

    // Someone else's machine: same cluster, another owner, no local records.
    await apps.patchNamespacedDeployment(
      {
        namespace: 'web',
        name: 'api',
        body: { metadata: { annotations: { 'localizer.dev/owner': 'colleague@desk' } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const polite = await localizer(['cleanup'], state);
    expect(polite.stdout).toContain(
      "Left alone: Deployment web/api belongs to colleague@desk's expose; run `localizer cleanup --force` if it is abandoned.",
    );
    expect(await replicas('api')).toBe(0);

    const forced = await localizer(['cleanup', '--force'], state);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('Cleanup: restored Deployment web/api to 2 replicas.');
    expect(await replicas('api')).toBe(2);
    await expectNoLeftovers();
    const again = await localizer(['cleanup'], state);
    expect(again.stdout).toContain('Nothing to clean up in context');
  });

  it('joins a running connect, shows beside its forwards, and is undone when connect stops', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const range = takeLocalizerRange();
    try {
      const connect = await connected(state, range.cidr);
      const expose = await localizer(['expose', 'web/api', '--map', `${String(laptopPort)}:http`], state);
      expect(expose.code, `${expose.stdout}${expose.stderr}`).toBe(0);
      expect(expose.stdout).toContain('It runs in a foreground `localizer` command (pid');
      const listed = JSON.parse((await localizer(['list', '--json'], state)).stdout) as {
        kind: string;
        name: string;
      }[];
      expect(listed.filter((t) => t.kind === 'expose').map((t) => t.name)).toEqual(['api']);
      expect(listed.filter((t) => t.kind === 'forward').length).toBeGreaterThan(5);
      expect(Object.keys(await selectorOf('api'))).toEqual(['localizer.dev/intercept']);
      await connect.stop();
      expect(await selectorOf('api')).toEqual({ app: 'api' });
      await expectNoLeftovers();
    } finally {
      range.release();
    }
  });

  it('an unexpose leaves the connections open through connect forwards alone', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const range = takeLocalizerRange();
    try {
      const connect = await connected(state, range.cidr);
      const listed = JSON.parse((await localizer(['list', '--json'], state)).stdout) as TunnelStatus[];
      const echo = listed.find((t) => t.kind === 'forward' && t.namespace === 'tools' && t.name === 'echo');
      if (!echo?.ip)
        throw new Error(`tools/echo has no address in localizer list: ${JSON.stringify(listed)}`);
      const held = await connectedEcho(echo.ip, 7007);
      expect(await held.say('before\n')).toBe('before\n');

      const expose = await localizer(['expose', 'web/api', '--map', `${String(laptopPort)}:http`], state);
      expect(expose.code, `${expose.stdout}${expose.stderr}`).toBe(0);
      const stop = await localizer(['expose', 'web/api', '--stop'], state);
      expect(stop.code, `${stop.stdout}${stop.stderr}`).toBe(0);

      expect(await held.say('after the unexpose\n'), 'a held connection outlives an unexpose').toBe(
        'after the unexpose\n',
      );
      held.close();
      const after = JSON.parse((await localizer(['list', '--json'], state)).stdout) as TunnelStatus[];
      expect(
        after.find((t) => t.name === 'echo')?.transport,
        'the dialer is still the one connect uses',
      ).toBeTruthy();
      await connect.stop();
      await expectNoLeftovers();
    } finally {
      range.release();
    }
  });

  it('a disconnect of one context leaves the exposes of another context running', async () => {
    const state = mkdtempSync(join(tmpdir(), 'expose-cli-'));
    const range = takeLocalizerRange();
    // A second context on the same cluster, as a teammate's kubeconfig beside one's own.
    const second = cluster.addUser('second-context', adminRules, 'web');
    const both = { KUBECONFIG: `${cluster.kubeconfigPath}:${second.kubeconfigPath}` };
    try {
      const connect = await connected(state, range.cidr);
      const expose = await run(
        process.execPath,
        [
          ...nodeArgs,
          'expose',
          'web/api',
          '--context',
          second.context,
          '--map',
          `${String(laptopPort)}:http`,
        ],
        { env: { ...environment(state), ...both } },
      );
      expect(expose.code, `${expose.stdout}${expose.stderr}`).toBe(0);
      const disconnect = await localizer(['disconnect', '--context', 'localizer-test'], state);
      expect(disconnect.code, `${disconnect.stdout}${disconnect.stderr}`).toBe(0);
      const listed = JSON.parse((await localizer(['list', '--json'], state)).stdout) as TunnelStatus[];
      expect(listed.map((t) => `${t.kind} ${t.context} ${t.namespace}/${t.name} ${t.status}`)).toEqual([
        `expose ${second.context} web/api running`,
      ]);
      expect(Object.keys(await selectorOf('api'))).toEqual(['localizer.dev/intercept']);
      const stop = await localizer(['expose', 'web/api', '--stop', '--context', second.context], state);
      expect(stop.code, `${stop.stdout}${stop.stderr}`).toBe(0);
      await connect.stop();
      expect(await selectorOf('api')).toEqual({ app: 'api' });
      await expectNoLeftovers();
    } finally {
      range.release();
    }
  });
});
