/**
 * Expose as a user bound only to the Role Localizer ships (`deploy/rbac.yaml`): a takeover runs
 * start to stop, and cleanup too, with nothing cluster-scoped and no access to workloads. Each
 * permission taken away is named, with its verb and resource, before anything changes.
 */
import { readFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { PolicyRule } from '../../../../e2e/cluster/api/auth';
import { startTestCluster, type TestCluster } from '../../../../e2e/cluster/test-cluster';
import { freePort } from '../../../../e2e/support/sockets';
import { exposeObjectsLeft } from '../../../../e2e/support/expose-leftovers';
import { requireSystemTools } from '../../../../e2e/support/system-tools';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';
import { ExposeManager } from './expose-manager';
import { TestClients } from '../../../../e2e/support/test-clients';

/** Each manager's own clients, as each Localizer has; released after the file. */
const clients = new TestClients();

const rbacFile = fileURLToPath(new URL('../../../../deploy/rbac.yaml', import.meta.url));
let cluster: TestCluster;
let admin: k8s.CoreV1Api;
let laptop: Server;
let laptopPort: number;

interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The shipped Role's rules, as the test cluster's authorizer holds them, bound in `web`. */
function shippedRules(): PolicyRule[] {
  const role = parse(readFileSync(rbacFile, 'utf8')) as { kind: string; rules: RoleRule[] };
  expect(role.kind).toBe('Role');
  return role.rules.map((rule) => ({ ...rule, namespaces: ['web'] }));
}

/** The rules without one verb on one resource (`pods/portforward` for a subresource). */
function without(rules: PolicyRule[], verb: string, group: string, resource: string): PolicyRule[] {
  return rules.flatMap((rule) => {
    if (!rule.apiGroups.includes(group) || !rule.resources.includes(resource)) return [rule];
    const others = rule.resources.filter((r) => r !== resource);
    return [
      ...(others.length > 0 ? [{ ...rule, resources: others }] : []),
      { ...rule, resources: [resource], verbs: rule.verbs.filter((v) => v !== verb) },
    ];
  });
}

let users = 0;
function contextFor(rules: PolicyRule[]): KubeContext {
  const user = cluster.addUser(`role-bound-${String(++users)}`, rules, 'web');
  return loadKubeContext({ kubeconfig: user.kubeconfigPath, context: user.context });
}

function managerFor(): ExposeManager {
  return new ExposeManager({
    clients: clients.forExposes(),
    stateDirectory: mkdtempSync(join(tmpdir(), 'least-privilege-')),
    owner: 'dev@laptop',
    keepaliveIntervalMs: 1_000,
  });
}

/**
 * For each permission taken away in turn: the expose is refused naming it (after `before`, a
 * regular expression), and nothing in the cluster changed.
 */
async function expectEachNamed(
  needs: readonly (readonly [verb: string, group: string, resource: string, named: string])[],
  before: string,
  request: { header?: { name: string; value: string } } = {},
): Promise<void> {
  for (const [verb, group, resource, named] of needs) {
    const context = contextFor(without(shippedRules(), verb, group, resource));
    await expect(
      managerFor().expose(context, {
        namespace: 'web',
        service: 'api',
        mappings: [{ localPort: laptopPort, remote: 'http' }],
        ...request,
      }),
      `without ${named}`,
    ).rejects.toThrow(
      new RegExp(`${before}it may not ${named.replace(/[./]/g, '\\$&')}\\. Nothing was changed\\.`),
    );
    await untouched();
  }
}

function call(ip: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    get({ host: ip, port: 8080, path: '/', agent: false, headers, timeout: 5_000 }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function untouched(): Promise<void> {
  const service = await admin.readNamespacedService({ namespace: 'web', name: 'api' });
  expect(service.spec?.selector).toEqual({ app: 'api' });
  expect(
    Object.keys(service.metadata?.annotations ?? {}).filter((k) => k.startsWith('localizer.dev/')),
  ).toEqual([]);
  expect(await exposeObjectsLeft(admin, 'web')).toBe(0);
}

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux', 'haproxy');
  cluster = await startTestCluster({ scenario: 'demo' });
  await cluster.waitForWorkloads();
  admin = loadKubeContext({ kubeconfig: cluster.kubeconfigPath }).kubeConfig.makeApiClient(k8s.CoreV1Api);
  laptopPort = await freePort();
  laptop = createServer((_request, response) => response.end('from the laptop'));
  await new Promise<void>((resolve) => laptop.listen(laptopPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  laptop.close();
  clients.releaseAll();
  await cluster.stop();
});

describe('expose as a user bound only to deploy/rbac.yaml', () => {
  it('takes a service over and gives it back, and cleans up after an earlier run', async () => {
    const context = contextFor(shippedRules());
    const manager = managerFor();
    const started = await manager.expose(context, {
      namespace: 'web',
      service: 'api',
      mappings: [{ localPort: laptopPort, remote: 'http' }],
    });
    expect(started.status).toBe('running');
    const ip = (await admin.readNamespacedService({ namespace: 'web', name: 'api' })).spec?.clusterIP ?? '';
    await expect
      .poll(() => call(ip), { timeout: 15_000, message: 'web/api should reach the laptop' })
      .toBe('from the laptop');
    await manager.unexpose(context.name, 'web', 'api');
    expect(await manager.recover(context)).toEqual({ done: [], skipped: [], failed: [] });
    await untouched();
  });

  const takeoverNeeds: [verb: string, group: string, resource: string, named: string][] = [
    ['get', '', 'services', 'get services'],
    ['patch', '', 'services', 'patch services'],
    ['list', 'discovery.k8s.io', 'endpointslices', 'list endpointslices.discovery.k8s.io'],
    ['list', '', 'pods', 'list pods'],
    ['get', '', 'pods', 'get pods'],
    ['create', '', 'pods', 'create pods'],
    ['delete', '', 'pods', 'delete pods'],
    ['create', '', 'secrets', 'create secrets'],
    ['delete', '', 'secrets', 'delete secrets'],
    ['create', '', 'pods/portforward', 'create pods/portforward'],
  ];
  it('runs a personal intercept, router and all, start to stop', async () => {
    const context = contextFor(shippedRules());
    const manager = managerFor();
    const before = await admin.readNamespacedService({ namespace: 'web', name: 'api' });
    const started = await manager.expose(context, {
      namespace: 'web',
      service: 'api',
      mappings: [{ localPort: laptopPort, remote: 'http' }],
      header: { name: 'x-dev', value: 'least' },
    });
    expect(started).toMatchObject({ status: 'running', mode: 'personal' });
    const ip = before.spec?.clusterIP ?? '';
    expect(await call(ip, { 'x-dev': 'least' })).toBe('from the laptop');
    expect(await call(ip)).toMatch(/"namespace":"web"/);
    await manager.unexpose(context.name, 'web', 'api');
    expect(await manager.recover(context)).toEqual({ done: [], skipped: [], failed: [] });
    expect((await admin.readNamespacedService({ namespace: 'web', name: 'api' })).spec).toEqual(before.spec);
    await untouched();
  });

  const personalNeeds: [verb: string, group: string, resource: string, named: string][] = [
    ['get', '', 'configmaps', 'get configmaps'],
    ['create', '', 'configmaps', 'create configmaps'],
    ['update', '', 'configmaps', 'update configmaps'],
    ['delete', '', 'configmaps', 'delete configmaps'],
    ['create', '', 'services', 'create services'],
    ['delete', '', 'services', 'delete services'],
  ];
  it('names each missing verb and resource of a personal intercept before anything changes', async () => {
    await expectEachNamed(personalNeeds, 'a personal intercept \\(--header\\) needs in namespace web: ', {
      header: { name: 'x-dev', value: 'least' },
    });
  });

  it('names each missing verb and resource before anything changes', async () => {
    await expectEachNamed(takeoverNeeds, '');
  });
});
