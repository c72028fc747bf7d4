/**
 * `localizer env` and `localizer run` against the test cluster, whose kubelet gives each pod
 * process the environment a real kubelet gives it: what Localizer resolves from the API alone is
 * compared with what the processes really run with.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { field } from '../../e2e/cluster/api/objects';
import { resourceTypeOfKind } from '../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { kubeClients } from '../../e2e/support/kube-clients';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import { requireSystemTools } from '../../e2e/support/system-tools';
import { builtCli } from '../../e2e/support/built-localizer';

let cluster: TestCluster;
const background: Background[] = [];
const range = takeLocalizerRange();

beforeAll(async () => {
  requireSystemTools('git');
  cluster = await startTestCluster({ scenario: 'demo' });
});
afterAll(async () => {
  for (const process of background) await process.stop();
  await cluster.stop();
  range.release();
});

function terminal(state = mkdtempSync(join(tmpdir(), 'env-state-'))): NodeJS.ProcessEnv {
  return { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster.kubeconfigPath };
}

function localizer(args: string[], env: NodeJS.ProcessEnv = terminal()) {
  return run(process.execPath, [builtCli, ...args], { env, timeoutMs: 60_000 });
}

async function envJson(
  target: string,
  container: string,
  env?: NodeJS.ProcessEnv,
): Promise<Record<string, string>> {
  const result = await localizer(['env', target, '--container', container, '--format', 'json'], env);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, string>;
}

interface SpecContainer {
  name: string;
  env?: { name: string }[];
  envFrom?: { prefix?: string; configMapRef?: { name: string }; secretRef?: { name: string } }[];
}

/** The names a container's spec defines, by `env` and through `envFrom` (as the kubelet expands them). */
function specNames(namespace: string, container: SpecContainer): string[] {
  const names = (container.env ?? []).map((v) => v.name);
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const object =
      ref &&
      cluster.store.get(resourceTypeOfKind(from.configMapRef ? 'ConfigMap' : 'Secret'), namespace, ref.name);
    for (const key of Object.keys((object && (field(object, 'data') as Record<string, string>)) ?? {}))
      names.push(`${from.prefix ?? ''}${key}`);
  }
  return names;
}

describe('localizer env', () => {
  it('gives, for every container of the demo, exactly the values its pod process runs with', async () => {
    const pods = cluster.store.list(resourceTypeOfKind('Pod')).filter((p) => !p.metadata.deletionTimestamp);
    const workloads = new Map<string, string>();
    for (const kind of ['Deployment', 'StatefulSet'] as const)
      for (const workload of cluster.store.list(resourceTypeOfKind(kind)))
        workloads.set(
          `${workload.metadata.namespace ?? ''}/${kind === 'Deployment' ? 'deploy' : 'sts'}/${workload.metadata.name ?? ''}`,
          workload.metadata.name ?? '',
        );
    let compared = 0;
    for (const [target, name] of workloads) {
      const namespace = target.split('/')[0] ?? '';
      const template = cluster.store
        .list(resourceTypeOfKind(target.includes('/sts/') ? 'StatefulSet' : 'Deployment'), namespace)
        .find((w) => w.metadata.name === name);
      const containers = field(template ?? {}, 'spec', 'template', 'spec', 'containers') as Parameters<
        typeof specNames
      >[1] &
        { name: string }[];
      for (const container of containers) {
        const resolved = await envJson(target, container.name);
        // fieldRefs come from one running pod, which `env` names: compare with that pod.
        const fieldPod =
          resolved.POD_NAME ??
          pods.find((p) => p.metadata.namespace === namespace && p.metadata.name?.startsWith(name))?.metadata
            .name;
        const actual = cluster.processEnvironment(namespace, fieldPod ?? '', container.name);
        expect(actual, `${target} ${container.name} should run`).toBeDefined();
        for (const variable of specNames(namespace, container)) {
          if (!(variable in (actual ?? {}))) {
            expect(
              resolved,
              `${target}/${container.name}: ${variable} is not in the process either`,
            ).not.toHaveProperty(variable);
            continue;
          }
          expect(resolved[variable], `${target}/${container.name}: ${variable}`).toBe(actual?.[variable]);
          compared++;
        }
        // Service links too: every one Localizer gives, the process has, with the same value.
        for (const [variable, value] of Object.entries(resolved))
          if (/_SERVICE_|_PORT/.test(variable))
            expect(actual?.[variable], `${target}/${container.name}: ${variable}`).toBe(value);
      }
    }
    console.log(
      `compared ${String(compared)} spec-defined variables over ${String(workloads.size)} workloads`,
    );
    expect(compared).toBeGreaterThan(20);
    // One `localizer env` per container of the demo (about 30 s here, over 60 s on a loaded
    // machine): each call has its own deadline, so the whole gets room for all of them.
  }, 180_000);

  it('runs a command with the workload environment, writing nothing', async () => {
    const pod = cluster.store
      .list(resourceTypeOfKind('Pod'), 'web')
      .find((p) => p.metadata.name?.startsWith('orders-'));
    const actual = cluster.processEnvironment('web', pod?.metadata.name ?? '', 'orders');
    const state = mkdtempSync(join(tmpdir(), 'env-run-'));
    const result = await localizer(
      ['run', 'web/deploy/orders', '--', 'printenv', 'DATABASE_URL'],
      terminal(state),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(actual?.DATABASE_URL);
    expect(result.stdout).toContain('s3cr3t');
    // The secret's value reaches the command, and no log line.
    expect(result.stderr).not.toContain('s3cr3t');
    const code = await localizer(['run', 'web/deploy/orders', '--', 'sh', '-c', 'exit 7']);
    expect(code.code).toBe(7);
  });

  it('materialises the volume files under --files as the pod mounts them, byte for byte and mode for mode', async () => {
    const pod = cluster.store
      .list(resourceTypeOfKind('Pod'), 'web')
      .find((p) => p.metadata.name?.startsWith('orders-'));
    const name = pod?.metadata.name ?? '';
    const work = mkdtempSync(join(tmpdir(), 'env-files-'));
    const directory = join(work, 'files');
    const copy = join(work, 'copy');
    const result = await localizer([
      'run',
      'web/deploy/orders',
      '--files',
      directory,
      '--',
      'sh',
      '-c',
      `cp -a "$LOCALIZER_FILES" ${copy} && stat -c %a "$LOCALIZER_FILES"`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('700');
    expect(existsSync(directory), 'the files are removed once the command ends').toBe(false);
    // Each mount as the kubelet wrote it: mount path, volume, and the path inside the volume.
    const mounted: [string, string, string][] = [
      ['etc/orders/app.properties', 'config', 'app.properties'],
      ['etc/orders/flags/features', 'config', 'flags/features'],
      ['etc/orders-app.properties', 'config', 'app.properties'],
      ['var/run/secrets/orders-db/username', 'db', 'username'],
      ['var/run/secrets/orders-db/password', 'db', 'password'],
      ['var/run/secrets/orders-db/tls.key', 'db', 'tls.key'],
      ['etc/podinfo/labels', 'podinfo', 'labels'],
      ['etc/podinfo/annotations', 'podinfo', 'annotations'],
      ['etc/podinfo/name', 'podinfo', 'name'],
      ['etc/podinfo/memory-limit', 'podinfo', 'memory-limit'],
    ];
    for (const [path, volume, inside] of mounted) {
      const kubelet = join(cluster.volumeDirectory('web', name, volume) ?? '', inside);
      expect(readFileSync(join(copy, path)), path).toEqual(readFileSync(kubelet));
      expect((statSync(join(copy, path)).mode & 0o777).toString(8), path).toBe(
        (statSync(kubelet).mode & 0o777).toString(8),
      );
    }
    expect(readFileSync(join(copy, 'etc/podinfo/memory-limit'), 'utf8')).toBe('256');
    const refused = await localizer(['run', 'web/deploy/orders', '--files', work, '--', 'true']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is not empty');
  });

  it('finds a service’s workload, and refuses an unknown workload, container or key with a clear message', async () => {
    expect((await envJson('web/api', 'api')).API_SERVICE_PORT).toBe('8080');
    const unknown = await localizer(['env', 'web/deploy/nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('There is no deployment nope in namespace web');
    const container = await localizer(['env', 'web/deploy/orders', '--container', 'sidecar']);
    expect(container.code).toBe(1);
    expect(container.stderr).toContain('its containers are orders, metrics');
    const { apps } = kubeClients(cluster.kubeconfigPath);
    await apps.createNamespacedDeployment({
      namespace: 'web',
      body: {
        metadata: { name: 'broken' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'broken' } },
          template: {
            metadata: { labels: { app: 'broken' } },
            spec: {
              containers: [
                {
                  name: 'broken',
                  image: 'localizer-test/http-server:1.0',
                  env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'orders-db', key: 'token' } } }],
                },
              ],
            },
          },
        },
      },
    });
    const directory = mkdtempSync(join(tmpdir(), 'env-out-'));
    const missingKey = await localizer(['env', 'web/deploy/broken', '--output', join(directory, '.env')]);
    expect(missingKey.code).toBe(1);
    expect(missingKey.stderr).toContain(
      'TOKEN reads key token of secret web/orders-db, which has no such key',
    );
    expect(existsSync(join(directory, '.env'))).toBe(false);
  });

  it('writes --output with mode 0600, and refuses a file git could commit unless told', async () => {
    const repository = mkdtempSync(join(tmpdir(), 'env-repo-'));
    execFileSync('git', ['init', '-q', repository]);
    const refused = await localizer(['env', 'web/deploy/orders', '--output', join(repository, '.env')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is inside the git work tree');
    expect(refused.stderr).toContain('pass --force');
    expect(existsSync(join(repository, '.env'))).toBe(false);
    writeFileSync(join(repository, '.gitignore'), '.env\n');
    const written = await localizer(['env', 'web/deploy/orders', '--output', join(repository, '.env')]);
    expect(written.code, written.stderr).toBe(0);
    expect(statSync(join(repository, '.env')).mode & 0o777).toBe(0o600);
    const forced = await localizer([
      'env',
      'web/deploy/orders',
      '--format',
      'shell',
      '--output',
      join(repository, 'env.sh'),
      '--force',
    ]);
    expect(forced.code, forced.stderr).toBe(0);
    const sourced = execFileSync(
      'sh',
      ['-c', `. ${join(repository, 'env.sh')} && printf %s "$DB_PASSWORD"`],
      { encoding: 'utf8' },
    );
    expect(sourced).toBe('s3cr3t $(not) "quoted"');
  });

  it('names what the account may not read, and resolves the rest', async () => {
    const pod = cluster.store
      .list(resourceTypeOfKind('Pod'), 'web')
      .find((p) => p.metadata.name?.startsWith('orders-'));
    const result = await localizer([
      'env',
      `web/pod/${pod?.metadata.name ?? ''}`,
      '--context',
      cluster.contexts.restricted,
      '--format',
      'json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const resolved = JSON.parse(result.stdout) as Record<string, string>;
    expect(resolved.APP_MODE).toBe('demo');
    expect(resolved.POD_NAME).toBe(pod?.metadata.name);
    expect(resolved).not.toHaveProperty('DB_PASSWORD');
    expect(result.stderr).toMatch(
      /missing: DB_PASSWORD: secret web\/orders-db, key password: your account may not get secrets in namespace web .*it needs `get` on `secrets` there/,
    );
  });

  it('rewrites in-cluster addresses to this machine’s forwards while connect runs, and says which', async () => {
    const state = mkdtempSync(join(tmpdir(), 'env-connect-'));
    const connect = runInBackground(
      process.execPath,
      [builtCli, 'connect', '--no-names', '--ip-range', range.cidr],
      { env: terminal(state) },
    );
    background.push(connect);
    await expect
      .poll(connect.output, { timeout: 30_000, message: 'connect should finish' })
      .toContain('Connected:');
    const list = JSON.parse((await localizer(['list', '--json'], terminal(state))).stdout) as {
      namespace: string;
      name: string;
      ip: string;
    }[];
    const api = list.find((t) => t.namespace === 'web' && t.name === 'api')?.ip;
    const kv0 = list.find((t) => t.namespace === 'data' && t.name === 'kv-0.kv')?.ip;
    const result = await localizer(['env', 'web/deploy/orders', '--format', 'json'], terminal(state));
    expect(result.code, result.stderr).toBe(0);
    const resolved = JSON.parse(result.stdout) as Record<string, string>;
    expect(resolved.API_URL).toBe(`http://${api ?? ''}:8080/v1`);
    expect(resolved.API_SERVICE_HOST).toBe(api);
    expect(resolved.API_PORT).toBe(`tcp://${api ?? ''}:8080`);
    // A StatefulSet pod's own name goes to that pod's own address.
    expect(resolved.CFG_KV_ADDRESS).toBe(`${kv0 ?? 'no kv-0 forward'}:6379`);
    expect(result.stderr).toContain('rewritten for this machine: API_URL (api.web.svc.cluster.local -> ');
    // What a caller does with it: the rewritten address answers, from a pod of web/api.
    const answer = await fetch(resolved.API_URL ?? '').then(
      (r) => r.json() as Promise<{ namespace: string }>,
    );
    expect(answer.namespace).toBe('web');
    await connect.stop();
  });
});
