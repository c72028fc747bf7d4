/** Debian's python3-kubernetes against the test cluster: list, watch from a resourceVersion, portforward. */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../support/processes';
import { startTestCluster, type TestCluster } from '../test-cluster';
import { requireSystemTools } from '../../support/system-tools';

// Debian's packages are visible to Debian's interpreter only, not to a python3 earlier on PATH.
const python = '/usr/bin/python3';
const script = fileURLToPath(new URL('./python_client.py', import.meta.url));
let cluster: TestCluster;

async function client(...args: string[]): Promise<Record<string, unknown>> {
  const result = await run(python, [script, cluster.kubeconfigPath, ...args], { timeoutMs: 45_000 });
  if (result.code !== 0) throw new Error(`python client failed (${String(result.code)}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  requireSystemTools('pythonKubernetes');
  cluster = await startTestCluster({ scenario: 'demo' });
});
afterAll(() => cluster.stop());

describe('python3-kubernetes', () => {
  it('lists the StatefulSet pods, Running with their own IPs', async () => {
    const result = (await client('list-pods', 'data')) as {
      pods: { name: string; phase: string; ip: string }[];
      resourceVersion: string;
    };
    expect(result.pods.map((p) => p.name)).toEqual(['kv-0', 'kv-1', 'kv-2']);
    expect(result.pods.every((p) => p.phase === 'Running')).toBe(true);
    expect(new Set(result.pods.map((p) => p.ip)).size).toBe(3);
    expect(Number(result.resourceVersion)).toBeGreaterThan(0);
  });

  it('watches from a list resourceVersion and sees create, modify and delete in order', async () => {
    const result = (await client('watch-services', 'web', 'python-watched')) as {
      events: { type: string; resourceVersion: string; labels: Record<string, string> }[];
    };
    expect(result.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(result.events[1]?.labels.touched).toBe('yes');
    const versions = result.events.map((e) => Number(e.resourceVersion));
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    expect(new Set(versions).size).toBe(3);
  });

  it('port-forwards 256 KiB to an echo pod and gets the same bytes back', async () => {
    const pods = cluster.store.list(
      {
        group: '',
        version: 'v1',
        resource: 'pods',
        singular: 'pod',
        kind: 'Pod',
        namespaced: true,
        shortNames: [],
        verbs: [],
        subresources: {},
      },
      'tools',
    );
    const echo = pods.find((p) => p.metadata.name?.startsWith('echo-'));
    const result = await client('forward', 'tools', echo?.metadata.name ?? '', '7007', String(256 * 1024));
    expect(result).toMatchObject({ sent: 262144, received: 262144, equal: true, error: null });
  });

  it('gets the Forbidden Status for a namespace the restricted user may not read', async () => {
    const result = await client('forbidden', 'data', cluster.contexts.restricted);
    expect(result).toEqual({
      status: 403,
      reason: 'Forbidden',
      message:
        'services is forbidden: User "localizer-restricted" cannot list resource "services" in API group "" in the namespace "data"',
    });
  });
});
