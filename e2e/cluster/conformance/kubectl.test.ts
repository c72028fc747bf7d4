/**
 * kubectl against the test cluster: if kubectl disagrees with the cluster, the cluster is wrong.
 * Covers get (tables, JSON, selectors), describe, watch, scale, delete, logs, port-forward over
 * both SPDY transports, and the Status errors kubectl prints.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runInBackground, type Background } from '../../support/processes';
import { echoThrough, freePort, getJson, randomPayload } from '../../support/sockets';
import { startTestCluster, type TestCluster } from '../test-cluster';
import { requireSystemTools } from '../../support/system-tools';

let cluster: TestCluster;
let cacheDir: string;
const background: Background[] = [];

function kubectl(
  args: string[],
  options: { context?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
) {
  return run(
    'kubectl',
    [
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--cache-dir',
      cacheDir,
      ...(options.context ? ['--context', options.context] : []),
      ...args,
    ],
    { ...(options.env ? { env: options.env } : {}), ...(options.input ? { input: options.input } : {}) },
  );
}

/** Starts a long-running kubectl (watch, port-forward) against the cluster; stopped after all tests. */
function kubectlInBackground(args: string[], env: NodeJS.ProcessEnv = {}): Background {
  const child = runInBackground(
    'kubectl',
    ['--kubeconfig', cluster.kubeconfigPath, '--cache-dir', cacheDir, ...args],
    { env },
  );
  background.push(child);
  return child;
}

/** `kubectl port-forward` to a free local port, once it says it is forwarding. */
async function portForward(
  namespace: string,
  target: string,
  remotePort: number,
  env: NodeJS.ProcessEnv = {},
): Promise<{ localPort: number; forward: Background }> {
  const localPort = await freePort();
  const forward = kubectlInBackground(
    ['port-forward', '-n', namespace, target, `${localPort}:${remotePort}`],
    env,
  );
  await expect
    .poll(forward.output, { timeout: 15_000, message: 'kubectl should report forwarding' })
    .toContain(`Forwarding from 127.0.0.1:${localPort}`);
  return { localPort, forward };
}

async function podNames(namespace: string, selector: string): Promise<string[]> {
  const result = await kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json']);
  const list = JSON.parse(result.stdout) as {
    items: { metadata: { name: string; deletionTimestamp?: string } }[];
  };
  return list.items.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);
}

beforeAll(async () => {
  requireSystemTools('kubectl');
  cluster = await startTestCluster({ scenario: 'demo' });
  cacheDir = mkdtempSync(join(tmpdir(), 'kubectl-cache-'));
});

afterAll(async () => {
  await Promise.all(background.map((b) => b.stop()));
  await cluster.stop();
});

describe('kubectl get and describe', () => {
  it('lists every demo pod as Running and Ready in its table', async () => {
    const result = await kubectl(['get', 'pods', '-A']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
    for (const name of ['kv-0', 'kv-1', 'kv-2'])
      expect(result.stdout).toMatch(new RegExp(`data\\s+${name}\\s+1/1\\s+Running`));
    expect(result.stdout.match(/web\s+frontend-\S+\s+1\/1\s+Running/g)).toHaveLength(2);
  });

  it('shows services with their cluster IPs, headless and ExternalName services included', async () => {
    const result = await kubectl(['get', 'services', '-n', 'data']);
    expect(result.stdout).toMatch(/kv\s+ClusterIP\s+None\s+<none>\s+6379\/TCP/);
    // An ExternalName's ports are defaulted as any Service's are (protocol TCP).
    expect(result.stdout).toMatch(/billing\s+ExternalName\s+<none>\s+billing\.example\.com\s+8080\/TCP\s/);
    expect(result.stdout).toMatch(
      new RegExp(`legacy-db\\s+ClusterIP\\s+127\\.${cluster.addressOctet}\\.\\d+\\.\\d+`),
    );
  });

  it('admits a server-side dry run and stores nothing, and refuses one the user may not make', async () => {
    const admitted = await kubectl([
      ...['run', 'dry-probe', '-n', 'tools', '--image=python:3.13-alpine', '--dry-run=server', '-o', 'name'],
    ]);
    expect(admitted.stdout.trim(), admitted.stderr).toBe('pod/dry-probe');
    const after = await kubectl(['get', 'pod', 'dry-probe', '-n', 'tools']);
    expect(after.stderr).toContain('pods "dry-probe" not found');
    const refused = await kubectl(
      ['run', 'dry-probe', '-n', 'web', '--image=python:3.13-alpine', '--dry-run=server'],
      { context: cluster.contexts.restricted },
    );
    expect(refused.stderr).toMatch(
      /pods is forbidden: User "localizer-restricted" cannot create resource "pods"/,
    );
  });

  it('answers auth can-i as RBAC allows, for each user', async () => {
    const can = async (args: string[], context?: string) =>
      (await kubectl(['auth', 'can-i', ...args], context ? { context } : {})).stdout.trim();
    expect(await can(['create', 'pods', '-n', 'web'])).toBe('yes');
    const restricted = cluster.contexts.restricted;
    expect(await can(['list', 'pods', '-n', 'web'], restricted)).toBe('yes');
    expect(await can(['create', 'pods', '-n', 'web'], restricted)).toBe('no');
    expect(await can(['create', 'pods', '--subresource=portforward', '-n', 'web'], restricted)).toBe('yes');
    expect(await can(['list', 'pods', '-n', 'data'], restricted)).toBe('no');
    expect(await can(['patch', 'deployments.apps', '-n', 'web'], restricted)).toBe('no');
    // URLs: discovery's for everyone, the rest for the admin.
    expect(await can(['get', '/healthz'], restricted)).toBe('yes');
    expect(await can(['get', '/apis/apps/v1'], restricted)).toBe('yes');
    expect(await can(['get', '/logs'], restricted)).toBe('no');
    expect(await can(['get', '/logs'])).toBe('yes');
  });

  // What a user runs on reading "your account may not …": who am I, and what may I do here?
  it('answers auth whoami and auth can-i --list for each user, in each namespace', async () => {
    const restricted = cluster.contexts.restricted;
    const whoami = await kubectl(['auth', 'whoami'], { context: restricted });
    expect(whoami.stdout).toMatch(/Username\s+localizer-restricted\n/);
    expect(whoami.stdout).toMatch(/Groups\s+\[system:authenticated\]\n/);
    expect((await kubectl(['auth', 'whoami'])).stdout).toMatch(/Username\s+localizer-admin\n/);

    const rules = (namespace: string, context?: string) =>
      kubectl(['auth', 'can-i', '--list', '-n', namespace], context ? { context } : {}).then((r) => r.stdout);
    const inWeb = await rules('web', restricted);
    expect(inWeb).toMatch(/^pods\/portforward\s+\[\]\s+\[\]\s+\[get create\]$/m);
    expect(inWeb).toMatch(/^services\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(inWeb).toMatch(/^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$/m);
    expect(inWeb).toMatch(/^\s+\[\/version\]\s+\[\]\s+\[get\]$/m);
    // Its rules hold in web only: elsewhere it may ask about itself and nothing more.
    const inData = await rules('data', restricted);
    expect(inData).not.toMatch(/^(services|pods)\s/m);
    expect(inData).toMatch(/^selfsubjectreviews\.authentication\.k8s\.io\s/m);
    expect(await rules('data')).toMatch(/^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
  });

  it('shows the endpoints of a selector-less service, which point outside the cluster', async () => {
    const result = await kubectl([
      'get',
      'endpointslices',
      '-n',
      'data',
      '-l',
      'kubernetes.io/service-name=legacy-db',
    ]);
    expect(result.stdout).toMatch(
      new RegExp(`legacy-db-1\\s+IPv4\\s+5432\\s+127\\.${cluster.addressOctet}\\.`),
    );
  });

  it('selects by label and by field, and prints JSON that round-trips', async () => {
    const byLabel = await kubectl(['get', 'pods', '-n', 'web', '-l', 'app in (api)', '-o', 'name']);
    expect(byLabel.stdout.trim().split('\n')).toHaveLength(2);
    const byField = await kubectl([
      'get',
      'pods',
      '-n',
      'data',
      '--field-selector',
      'metadata.name=kv-1',
      '-o',
      'json',
    ]);
    const list = JSON.parse(byField.stdout) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((p) => p.metadata.name)).toEqual(['kv-1']);
  });

  it('describes a StatefulSet pod with its IP, owner and readiness', async () => {
    const result = await kubectl(['describe', 'pod', '-n', 'data', 'kv-0']);
    expect(result.stdout).toMatch(/Status:\s+Running/);
    expect(result.stdout).toMatch(new RegExp(`IP:\\s+127\\.${cluster.addressOctet}\\.`));
    expect(result.stdout).toMatch(/Controlled By:\s+StatefulSet\/kv/);
    expect(result.stdout).toMatch(/Ready:\s+True/);
  });

  it('shows endpoint slices with ready pod addresses and the resolved named port', async () => {
    const result = await kubectl([
      'get',
      'endpointslices',
      '-n',
      'web',
      '-l',
      'kubernetes.io/service-name=api',
      '-o',
      'json',
    ]);
    const list = JSON.parse(result.stdout) as {
      items: { ports: { name: string; port: number }[]; endpoints: { conditions: { ready: boolean } }[] }[];
    };
    expect(list.items).toHaveLength(1);
    expect(list.items[0]?.ports).toEqual(
      expect.arrayContaining([
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'metrics', port: 9102, protocol: 'TCP' },
      ]),
    );
    expect(list.items[0]?.endpoints.filter((e) => e.conditions.ready)).toHaveLength(2);
  });

  it('serves the deprecated /watch/ routes, by collection and by name', async () => {
    const events = async (path: string): Promise<string[]> => {
      const result = await kubectl(['get', '--raw', `${path}?timeoutSeconds=1`]);
      expect(result.stderr).toBe('');
      return result.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const event = JSON.parse(line) as { type: string; object: { metadata: { name: string } } };
          return `${event.type} ${event.object.metadata.name}`;
        });
    };
    expect((await events('/api/v1/watch/namespaces/web/services')).sort()).toEqual([
      'ADDED api',
      'ADDED frontend',
    ]);
    expect(await events('/apis/apps/v1/watch/namespaces/data/statefulsets/kv')).toEqual(['ADDED kv']);
  });

  it('prints the logs of a pod', async () => {
    const [pod] = await podNames('web', 'app=frontend');
    const result = await kubectl(['logs', '-n', 'web', pod ?? '']);
    expect(result.stdout).toContain(`http-server web/${pod ?? ''} listening on`);
  });
});

describe('kubectl changes things', () => {
  it('scales a Deployment and the new pod becomes Ready', async () => {
    const scaled = await kubectl(['scale', '-n', 'web', 'deployment/frontend', '--replicas=3']);
    expect(scaled.stdout).toContain('deployment.apps/frontend scaled');
    await expect
      .poll(async () => (await kubectl(['get', 'deployment', '-n', 'web', 'frontend'])).stdout, {
        timeout: 20_000,
        message: 'frontend should report 3/3 ready',
      })
      .toMatch(/frontend\s+3\/3\s+3\s+3/);
    await kubectl(['scale', '-n', 'web', 'deployment/frontend', '--replicas=2']);
    await expect.poll(() => podNames('web', 'app=frontend'), { timeout: 20_000 }).toHaveLength(2);
  });

  it('watches pods and sees a deleted pod go and its replacement arrive', async () => {
    const watch = kubectlInBackground(['get', 'pods', '-n', 'tools', '-l', 'app=echo', '-w']);
    const [victim] = await podNames('tools', 'app=echo');
    await expect
      .poll(watch.output, { timeout: 15_000, message: 'watch should print the current pod' })
      .toContain(victim);
    const deleted = await kubectl(['delete', 'pod', '-n', 'tools', victim ?? '']);
    expect(deleted.stdout).toContain(`pod "${victim ?? ''}" deleted`);
    await expect
      .poll(async () => (await podNames('tools', 'app=echo')).filter((name) => name !== victim), {
        timeout: 20_000,
      })
      .toHaveLength(1);
    const [replacement] = (await podNames('tools', 'app=echo')).filter((name) => name !== victim);
    await expect
      .poll(watch.output, { timeout: 15_000, message: 'watch should show the replacement Running' })
      .toMatch(new RegExp(`${replacement ?? 'none'}\\s+1/1\\s+Running`));
    await watch.stop();
  });

  it('creates objects from a manifest, with generateName, and deletes them', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { generateName: 'settings-', namespace: 'web' },
      data: { greeting: 'hello' },
    });
    const created = await kubectl(['create', '-f', '-', '-o', 'name'], { input: manifest });
    expect(created.stdout).toMatch(/^configmap\/settings-[a-z0-9]{5}\n$/);
    const name = created.stdout.trim();
    const deleted = await kubectl(['delete', '-n', 'web', name]);
    expect(deleted.stdout).toContain('deleted');
    const gone = await kubectl(['get', '-n', 'web', name]);
    expect(gone.stderr).toContain(
      `Error from server (NotFound): configmaps "${name.split('/')[1] ?? ''}" not found`,
    );
  });

  it('patches a Service with a strategic merge patch and a JSON merge patch', async () => {
    const strategic = await kubectl([
      'patch',
      'service',
      '-n',
      'web',
      'api',
      '-p',
      '{"metadata":{"labels":{"team":"payments"}}}',
    ]);
    expect(strategic.stdout).toContain('service/api patched');
    const merge = await kubectl([
      'patch',
      'service',
      '-n',
      'web',
      'api',
      '--type=merge',
      '-p',
      '{"metadata":{"annotations":{"owner":"me"}}}',
    ]);
    expect(merge.stdout).toContain('service/api patched');
    const json = await kubectl([
      'patch',
      'service',
      '-n',
      'web',
      'api',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/labels/team"}]',
    ]);
    expect(json.stdout).toContain('service/api patched');
    const result = JSON.parse(
      (await kubectl(['get', 'service', '-n', 'web', 'api', '-o', 'json'])).stdout,
    ) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    };
    expect(result.metadata.annotations.owner).toBe('me');
    expect(result.metadata.labels.team).toBeUndefined();
  });
});

describe("kubectl's imperative commands, which send protobuf", () => {
  const ns = 'tutorial';
  const json = async (args: string[]): Promise<Record<string, unknown>> => {
    const result = await kubectl([...args, '-o', 'json']);
    expect(result.stderr).toBe('');
    return JSON.parse(result.stdout) as Record<string, unknown>;
  };

  it('creates a namespace, a service, a deployment, a config map, a secret and a pod, as a tutorial does', async () => {
    const lines = [];
    for (const args of [
      ['create', 'namespace', ns],
      ['create', 'service', 'clusterip', 'greeter', '--tcp=5678:8080', '-n', ns],
      [
        'create',
        'deployment',
        'hello',
        '--image=localizer-test/http-server:1.0',
        '--replicas=2',
        '--port=8080',
        '-n',
        ns,
      ],
      ['create', 'configmap', 'settings', '--from-literal=mode=demo', '-n', ns],
      ['create', 'secret', 'generic', 'token', '--from-literal=key=s3cret', '-n', ns],
      [
        'run',
        'solo',
        '--image=localizer-test/http-server:1.0',
        '--port=8080',
        '--labels=app=solo',
        '--env=GREETING=hi',
        '-n',
        ns,
      ],
    ]) {
      const result = await kubectl(args);
      expect(result.stderr, args.join(' ')).toBe('');
      lines.push(result.stdout.trim());
    }
    expect(lines).toEqual([
      `namespace/${ns} created`,
      'service/greeter created',
      'deployment.apps/hello created',
      'configmap/settings created',
      'secret/token created',
      'pod/solo created',
    ]);
    const service = (await json(['get', 'service', 'greeter', '-n', ns])).spec as Record<string, unknown>;
    expect(service).toMatchObject({
      type: 'ClusterIP',
      selector: { app: 'greeter' },
      ports: [{ name: '5678-8080', port: 5678, protocol: 'TCP', targetPort: 8080 }],
    });
    expect(service.clusterIP).toMatch(/^127\./);
    const deployment = await json(['get', 'deployment', 'hello', '-n', ns]);
    expect(deployment.spec).toMatchObject({
      replicas: 2,
      selector: { matchLabels: { app: 'hello' } },
      template: {
        metadata: { labels: { app: 'hello' } },
        spec: {
          containers: [
            {
              name: 'http-server',
              image: 'localizer-test/http-server:1.0',
              ports: [{ containerPort: 8080, protocol: 'TCP' }],
            },
          ],
        },
      },
    });
    // A zero Go field on the wire is unset, as a real API server reads it: no empty strings.
    expect(JSON.stringify(deployment)).not.toMatch(/:""/);
    expect((await json(['get', 'configmap', 'settings', '-n', ns])).data).toEqual({ mode: 'demo' });
    expect((await json(['get', 'secret', 'token', '-n', ns])).data).toEqual({
      key: Buffer.from('s3cret').toString('base64'),
    });
    const pod = await json(['get', 'pod', 'solo', '-n', ns]);
    expect(pod.metadata).toMatchObject({ labels: { app: 'solo' } });
    expect(pod.spec).toMatchObject({
      containers: [{ name: 'solo', env: [{ name: 'GREETING', value: 'hi' }] }],
    });
    await expect
      .poll(
        async () =>
          (await kubectl(['get', 'deployment', 'hello', '-n', ns, '-o', 'jsonpath={.status.readyReplicas}']))
            .stdout,
        {
          timeout: 20_000,
          message: 'the created deployment should become ready',
        },
      )
      .toBe('2');
  });

  it('exposes a deployment and a pod, and scales with a precondition', async () => {
    expect(
      (
        await kubectl([
          'expose',
          'deployment',
          'hello',
          '--port=80',
          '--target-port=8080',
          '--name=hello-web',
          '-n',
          ns,
        ])
      ).stdout,
    ).toBe('service/hello-web exposed\n');
    expect(
      (await kubectl(['expose', 'pod', 'solo', '--port=90', '--target-port=8080', '-n', ns])).stdout,
    ).toBe('service/solo exposed\n');
    expect(
      ((await json(['get', 'service', 'hello-web', '-n', ns])).spec as Record<string, unknown>).selector,
    ).toEqual({ app: 'hello' });
    expect(
      (await kubectl(['scale', 'deployment', 'hello', '--replicas=3', '--current-replicas=2', '-n', ns]))
        .stdout,
    ).toBe('deployment.apps/hello scaled\n');
    const refused = await kubectl([
      'scale',
      'deployment',
      'hello',
      '--replicas=1',
      '--current-replicas=7',
      '-n',
      ns,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: Expected replicas to be 7, was 3\n');
    expect((await json(['get', 'deployment', 'hello', '-n', ns])).spec).toMatchObject({ replicas: 3 });
  });

  it('answers an invalid name and an existing object as a real cluster does', async () => {
    const invalid = await kubectl(['create', 'namespace', 'Not_Valid']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(
      `The Namespace "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')\n`,
    );
    const again = await kubectl(['create', 'namespace', ns]);
    expect(again.stderr).toBe(`Error from server (AlreadyExists): namespaces "${ns}" already exists\n`);
    const duplicate = await kubectl(['create', 'configmap', 'settings', '--from-literal=a=b', '-n', ns]);
    expect(duplicate.stderr).toBe(
      'error: failed to create configmap: configmaps "settings" already exists\n',
    );
  });
});

describe('kubectl port-forward', () => {
  async function forwardAndEcho(target: string, remotePort: number, env: NodeJS.ProcessEnv): Promise<void> {
    const { localPort, forward } = await portForward('tools', target, remotePort, env);
    const payload = randomPayload(1024 * 1024);
    const echoed = await echoThrough('127.0.0.1', localPort, payload);
    expect(echoed.equals(payload)).toBe(true);
    await forward.stop();
  }

  it('passes 1 MiB through a pod over SPDY tunnelled in a WebSocket', async () => {
    const [pod] = await podNames('tools', 'app=echo');
    await forwardAndEcho(`pod/${pod ?? ''}`, 7007, {});
  });

  it('passes 1 MiB through a service over raw SPDY', async () => {
    await forwardAndEcho('svc/echo', 7007, { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' });
  });

  it('reaches each of several connections to an HTTP pod', async () => {
    const { localPort, forward } = await portForward('data', 'pod/kv-2', 6379);
    for (let i = 0; i < 3; i++) {
      expect(await getJson('127.0.0.1', localPort, `/request-${i}`)).toMatchObject({
        pod: 'kv-2',
        namespace: 'data',
        path: `/request-${i}`,
      });
    }
    await forward.stop();
  });

  it('reports a refused connection inside the pod as the kubelet does', async () => {
    const [pod] = await podNames('tools', 'app=echo');
    const { localPort, forward } = await portForward('tools', `pod/${pod ?? ''}`, 7999);
    await echoThrough('127.0.0.1', localPort, Buffer.from('hello')).catch(() => Buffer.alloc(0));
    await expect
      .poll(forward.output, { timeout: 15_000 })
      .toMatch(/error forwarding port 7999 to pod tools\/echo-.*connect: connection refused/);
    await forward.stop();
  });
});

describe('kubectl reads errors as a real API server writes them', () => {
  it('prints NotFound for a missing object', async () => {
    const result = await kubectl(['get', 'deployment', '-n', 'web', 'nope']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Error from server (NotFound): deployments.apps "nope" not found');
  });

  it('prints Forbidden for what the restricted user may not read', async () => {
    const allowed = await kubectl(['get', 'services', '-n', 'web'], { context: cluster.contexts.restricted });
    expect(allowed.stdout).toContain('frontend');
    const denied = await kubectl(['get', 'services', '-n', 'data'], { context: cluster.contexts.restricted });
    expect(denied.stderr).toContain(
      'Error from server (Forbidden): services is forbidden: User "localizer-restricted" cannot list resource "services" in API group "" in the namespace "data"',
    );
    const clusterWide = await kubectl(['get', 'pods', '-A'], { context: cluster.contexts.restricted });
    expect(clusterWide.stderr).toContain('cannot list resource "pods" in API group "" at the cluster scope');
  });

  it('prints Invalid for a bad name, with the validation message', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'Bad_Name', namespace: 'web' },
      spec: { ports: [{ port: 80 }] },
    });
    const result = await kubectl(['create', '-f', '-'], { input: manifest });
    expect(result.stderr).toContain(
      'The Service "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a DNS-1035 label must consist of lower case alphanumeric characters',
    );
  });

  it('prints AlreadyExists for a duplicate', async () => {
    const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } });
    const result = await kubectl(['create', '-f', '-'], { input: manifest });
    expect(result.stderr).toContain(
      'Error from server (AlreadyExists): error when creating "STDIN": namespaces "web" already exists',
    );
  });

  it('gets BadRequest for malformed JSON and for the wrong kind, and NotFound for an unknown resource', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-bodies-'));
    writeFileSync(join(dir, 'malformed.json'), '{"apiVersion": "v1", "kind": ');
    writeFileSync(
      join(dir, 'pod.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }),
    );
    const malformed = await kubectl([
      'create',
      '--raw',
      '/api/v1/namespaces/web/configmaps',
      '-f',
      join(dir, 'malformed.json'),
    ]);
    expect(malformed.stderr).toContain('Error from server (BadRequest)');
    const wrongKind = await kubectl([
      'create',
      '--raw',
      '/api/v1/namespaces/web/services',
      '-f',
      join(dir, 'pod.json'),
    ]);
    expect(wrongKind.stderr).toMatch(
      /Error from server \(BadRequest\): .*Pod.* cannot be handled as a Service/,
    );
    const unknown = await kubectl(['get', '--raw', '/api/v1/namespaces/web/widgets']);
    expect(unknown.stderr).toContain(
      'Error from server (NotFound): the server could not find the requested resource',
    );
  });
});
