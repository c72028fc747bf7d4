/**
 * `localizer up` and `down` with a project file, as a user runs them: the real CLI against the
 * demo cluster. Up brings the project up in the foreground (no Localizer was running), a second
 * up changes nothing, an edited file applies only the difference, and down leaves the cluster and
 * the state directory as they were before up.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { kubeClients } from '../../e2e/support/kube-clients';
import { builtCli } from '../../e2e/support/built-localizer';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import { freePort } from '../../e2e/support/sockets';
import { requireSystemTools } from '../../e2e/support/system-tools';
import type { TunnelStatus } from '../shared/tunnel-status';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const localizerCommand = builtCli;
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const background: Background[] = [];
const range = takeLocalizerRange();

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux', 'python3');
  cluster = await startTestCluster({ scenario: 'demo' });
  ({ core, apps } = kubeClients(cluster.kubeconfigPath));
});
afterAll(async () => {
  for (const started of background) await started.stop();
  await cluster.stop();
  range.release();
});

function environment(state: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster.kubeconfigPath, ...extra };
}

function localizer(args: string[], state: string, extra: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, [localizerCommand, ...args], {
    env: environment(state, extra),
    timeoutMs: 120_000,
  });
}

/** A project: web connected, web/api exposed to a local server it runs, and a process reading web/orders' environment. */
function projectFile(mode: 'takeover' | 'scale-down'): string {
  return `# yaml-language-server: $schema=${join(projectRoot, 'schema/localizer.schema.json')}
connect:
  namespaces: [web]
  names: false
exposes:
  - service: web/api
    map: ["\${LAPTOP_PORT}:http"]
    mode: ${mode}
run:
  - name: laptop-api
    workload: web/deploy/api
    command:
      - python3
      - -c
      - |
        import http.server, os
        class Answer(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = ("from the laptop, API_SERVICE_PORT=" + os.environ.get("API_SERVICE_PORT", "?")).encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
            def log_message(self, *args): pass
        print("listening", flush=True)
        http.server.HTTPServer(("127.0.0.1", int(os.environ["LAPTOP_PORT"])), Answer).serve_forever()
  - name: orders-env
    workload: web/deploy/orders
    command: echo "APP_MODE=$APP_MODE DB_USER=$DB_USER"
`;
}

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = request({ host, port, path: '/', agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    });
    call.on('error', reject).on('timeout', () => call.destroy(new Error('timed out')));
    call.end();
  });
}

async function list(state: string): Promise<TunnelStatus[]> {
  const listed = await localizer(['list', '--json'], state);
  return JSON.parse(listed.stdout || '[]') as TunnelStatus[];
}

async function selectorOf(name: string): Promise<Record<string, string>> {
  return (await core.readNamespacedService({ namespace: 'web', name })).spec?.selector ?? {};
}

describe('localizer up and down', () => {
  // Each step polls with its own deadline and message, up to 135 s in all on a loaded machine;
  // the default 60 s would end the test first, with no word of which step was slow.
  it('brings a project up, changes nothing the second time, applies an edit, and down undoes exactly it', async () => {
    const state = mkdtempSync(join(tmpdir(), 'up-state-'));
    const projectDirectory = mkdtempSync(join(tmpdir(), 'up-project-'));
    const file = join(projectDirectory, 'localizer.yaml');
    writeFileSync(file, projectFile('takeover'));
    const laptopPort = await freePort();
    const env = { LAPTOP_PORT: String(laptopPort) };
    const stateBefore = readdirSync(state);
    const apiIp = (await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec?.clusterIP ?? '';
    const replicas = async () =>
      (await apps.readNamespacedDeployment({ namespace: 'web', name: 'api' })).spec?.replicas;
    const replicasBefore = await replicas();

    const dryRun = await localizer(['up', '-f', file, '--dry-run', '--ip-range', range.cidr], state, env);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain(`Plan for ${file}:`);
    expect(dryRun.stdout).toMatch(/connect +\S+: namespaces web, by address only/);
    expect(dryRun.stdout).toContain(`expose     web/api: http → 127.0.0.1:${String(laptopPort)} (takeover)`);
    expect(dryRun.stdout).toContain('run        laptop-api: python3 -c');
    expect(dryRun.stdout).toMatch(/On `localizer down`.*give web\/api back to its pods; disconnect /);
    expect(dryRun.stdout).toContain('Dry run: nothing was changed.');
    expect((await localizer(['status'], state)).code, 'a dry run starts nothing').toBe(3);

    const up = runInBackground(
      process.execPath,
      [localizerCommand, 'up', '-f', file, '--ip-range', range.cidr],
      {
        env: environment(state, env),
      },
    );
    background.push(up);
    onTestFailed(() => console.log(`up's output:\n${up.output()}`));
    await expect.poll(up.output, { timeout: 60_000, message: 'up should come up' }).toContain('Up. Ctrl-C');
    await expect.poll(up.output, { timeout: 10_000 }).toContain('laptop-api | listening');
    await expect
      .poll(up.output, { timeout: 10_000, message: "orders-env prints web/orders' environment" })
      .toMatch(/orders-env \| APP_MODE=demo DB_USER=orders[\s\S]*orders-env \| exited with code 0/);
    const tunnels = await list(state);
    expect([...new Set(tunnels.filter((t) => t.kind === 'forward').map((t) => t.namespace))]).toEqual([
      'web',
    ]);
    expect(tunnels.find((t) => t.kind === 'expose')).toMatchObject({
      name: 'api',
      status: 'running',
      mode: 'takeover',
    });
    await expect
      .poll(() => get(apiIp, 8080).catch((error: unknown) => String(error)), { timeout: 15_000 })
      .toMatch(/^from the laptop, API_SERVICE_PORT=\d+$/);
    const heldBy = await selectorOf('api');
    const forwardIp = tunnels.find((t) => t.kind === 'forward' && t.name === 'api')?.ip;

    const again = await localizer(['up', '-f', file, '--ip-range', range.cidr], state, env);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/unchanged +\S+ is connected\n/);
    expect(again.stdout).toContain('unchanged  web/api is exposed\n');
    expect(again.stdout).toMatch(/unchanged +laptop-api runs in `localizer up` \(pid \d+\)\n/);
    expect(again.stdout).toContain('nothing changed');
    expect(await selectorOf('api'), 'the same takeover, not a new one').toEqual(heldBy);

    writeFileSync(file, projectFile('scale-down'));
    const edited = await localizer(['up', '-f', file, '--ip-range', range.cidr], state, env);
    expect(edited.code, edited.stdout + edited.stderr).toBe(0);
    expect(edited.stdout).toMatch(/unchanged +\S+ is connected\n/);
    expect(edited.stdout).toContain('re-expose  web/api');
    const afterEdit = await list(state);
    expect(afterEdit.find((t) => t.kind === 'expose')).toMatchObject({ name: 'api', mode: 'scale-down' });
    expect(
      afterEdit.find((t) => t.kind === 'forward' && t.name === 'api')?.ip,
      'the connection was kept',
    ).toBe(forwardIp);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    expect(await replicas()).toBe(0);

    const down = await localizer(['down', '-f', file], state);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain(`Down: ${file} is undone.`);
    await expect.poll(up.output, { timeout: 20_000 }).toContain(`\`localizer down\` brought ${file} down.`);
    await expect
      .poll(() => up.child.exitCode, { timeout: 20_000, message: 'the foreground up ends' })
      .toBe(0);
    expect(up.output()).toMatch(/laptop-api \| stopped \(SIGTERM\)/);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    expect(await replicas()).toBe(replicasBefore);
    expect((await localizer(['status'], state)).code).toBe(3);
    // The address book stays, as after any connect: the same services get the same addresses
    // next time (clients and /etc/hosts keep working). Nothing of the project or its exposes does.
    expect(readdirSync(state), 'the state directory is as before up, but for the address book').toEqual([
      ...stateBefore,
      'addresses.json',
    ]);
  }, 180_000);

  it('names the line and column of a bad file, and the services there are for an unknown one', async () => {
    const state = mkdtempSync(join(tmpdir(), 'up-state-'));
    const directory = mkdtempSync(join(tmpdir(), 'up-project-'));
    const file = join(directory, 'localizer.yaml');
    writeFileSync(
      file,
      'connect:\n  namespaces: [web]\nexposes:\n  - service: web/api\n    map: [3000]\n    mode: fast\n',
    );
    const bad = await localizer(['up', '-f', file], state);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      `${file}:5:11: exposes[0].map[0]: Invalid input: expected string, received number`,
    );
    expect(bad.stderr).toContain(
      `${file}:6:11: exposes[0].mode: Invalid option: expected one of "takeover"|"scale-down"`,
    );

    writeFileSync(file, 'exposes:\n  - service: web/apx\n');
    const unknown = await localizer(['up', '-f', file], state);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /There is no service web\/apx in context \S+\. Namespace web has: .*\bapi\b/,
    );
    expect((await localizer(['status'], state)).code, 'the foreground instance ended').toBe(3);
    expect(await selectorOf('api')).toEqual({ app: 'api' });

    const missing = await localizer(['up', '-f', join(directory, 'nope.yaml')], state);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`No project file at ${join(directory, 'nope.yaml')}`);
  });

  it('Ctrl-C of the up that runs the processes stops them and undoes what it did', async () => {
    const state = mkdtempSync(join(tmpdir(), 'up-state-'));
    const directory = mkdtempSync(join(tmpdir(), 'up-project-'));
    const file = join(directory, 'localizer.yaml');
    writeFileSync(file, projectFile('takeover'));
    const up = runInBackground(
      process.execPath,
      [localizerCommand, 'up', '-f', file, '--ip-range', range.cidr],
      {
        env: environment(state, { LAPTOP_PORT: String(await freePort()) }),
      },
    );
    background.push(up);
    onTestFailed(() => console.log(`up's output:\n${up.output()}`));
    await expect.poll(up.output, { timeout: 60_000 }).toContain('laptop-api | listening');
    up.child.kill('SIGINT');
    await expect.poll(() => up.child.exitCode, { timeout: 30_000 }).toBe(0);
    expect(up.output()).toContain('Undoing what this up did');
    expect(up.output()).toMatch(/laptop-api \| stopped \(SIGTERM\)/);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    expect(readdirSync(state).includes('projects'), 'no record is left').toBe(false);
  }, 180_000);

  it('up --detach comes back once the project is up, keeps it running without a terminal, and down stops it', async () => {
    const state = mkdtempSync(join(tmpdir(), 'up-state-'));
    const directory = mkdtempSync(join(tmpdir(), 'up-project-'));
    const file = join(directory, 'localizer.yaml');
    writeFileSync(file, projectFile('takeover'));
    const apiIp = (await core.readNamespacedService({ namespace: 'web', name: 'api' })).spec?.clusterIP ?? '';
    const up = await localizer(['up', '-f', file, '--detach', '--ip-range', range.cidr], state, {
      LAPTOP_PORT: String(await freePort()),
    });
    const pid = Number(/Up in the background \(pid (\d+)\)/.exec(up.stdout)?.[1] ?? 0);
    // Whatever happens below, the background up must not outlive the test.
    onTestFinished(() => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/its output goes to .*\.log\. `localizer down -f .*` stops it\./);
    await expect
      .poll(() => get(apiIp, 8080).catch((error: unknown) => String(error)), { timeout: 15_000 })
      .toMatch(/^from the laptop/);
    const down = await localizer(['down', '-f', file], state);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    await expect
      .poll(
        () => {
          try {
            process.kill(pid, 0);
            return 'running';
          } catch {
            return 'gone';
          }
        },
        { timeout: 20_000, message: 'down stops the background up' },
      )
      .toBe('gone');
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    expect(readdirSync(state).includes('projects'), 'no record or log is left').toBe(false);
  });
});
