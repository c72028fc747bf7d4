/**
 * `localizer mcp` as a coding agent's client sees it: the MCP SDK's own client over stdio,
 * spawning the `localizer` command (bin/localizer.mjs), against `localizer daemon` on the demo
 * cluster (the built one, as installed). Nothing here calls the server's code directly.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { kubeClients } from '../../e2e/support/kube-clients';
import { builtCli } from '../../e2e/support/built-localizer';
import { runInBackground, type Background } from '../../e2e/support/processes';
import { freePort } from '../../e2e/support/sockets';
import { requireSystemTools } from '../../e2e/support/system-tools';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const localizerCommand = join(projectRoot, 'bin/localizer.mjs');
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let laptop: Server;
let laptopPort: number;
const running: Background[] = [];
const clients: Client[] = [];
const range = takeLocalizerRange();

beforeAll(async () => {
  requireSystemTools('sshd', 'utilLinux');
  cluster = await startTestCluster({ scenario: 'demo' });
  ({ core } = kubeClients(cluster.kubeconfigPath));
  laptopPort = await freePort();
  laptop = createServer((socket) => socket.on('error', () => socket.destroy()).end('from the laptop\n'));
  await new Promise<void>((resolve) => laptop.listen(laptopPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const client of clients) await client.close();
  for (const started of running) await started.stop();
  laptop.close();
  await cluster.stop();
  range.release();
});

/** An agent's MCP client, starting `localizer mcp` as an MCP host would. */
async function mcpClient(state: string, extraArgs: string[] = []): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [localizerCommand, 'mcp', ...extraArgs],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: mkdtempSync(join(tmpdir(), 'mcp-home-')),
      LOCALIZER_STATE_DIR: state,
      KUBECONFIG: cluster.kubeconfigPath,
    },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'localizer-test-agent', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return client;
}

interface ToolAnswer {
  isError?: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolAnswer> {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  const content = result.content as { type: string; text?: string }[];
  return {
    ...(result.isError ? { isError: true } : {}),
    text: content.map((c) => c.text ?? '').join('\n'),
    structured: result.structuredContent as Record<string, unknown> | undefined,
  };
}

async function selectorOf(name: string): Promise<Record<string, string>> {
  return (await core.readNamespacedService({ namespace: 'web', name })).spec?.selector ?? {};
}

describe('localizer mcp', () => {
  it('lists its tools, and with no Localizer running says how to start one', async () => {
    const client = await mcpClient(mkdtempSync(join(tmpdir(), 'mcp-state-')));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'connect',
      'disconnect',
      'expose',
      'list_services',
      'project_down',
      'project_plan',
      'project_up',
      'service_details',
      'status',
      'unexpose',
      'workload_environment',
    ]);
    const expose = tools.find((t) => t.name === 'expose');
    expect(expose?.inputSchema.required).toEqual(['namespace', 'service']);
    const status = await call(client, 'status');
    expect(status.isError).toBe(true);
    expect(status.text).toMatch(/Localizer is not running.*Start it with `localizer daemon`/);
  });

  it('drives a running Localizer: connect, list, details, expose and unexpose, with clear refusals', async () => {
    const state = mkdtempSync(join(tmpdir(), 'mcp-state-'));
    const daemon = runInBackground(process.execPath, [builtCli, 'daemon'], {
      env: { LOCALIZER_STATE_DIR: state, KUBECONFIG: '', HOME: mkdtempSync(join(tmpdir(), 'mcp-home-')) },
    });
    running.push(daemon);
    onTestFailed(() => console.log(`daemon output:\n${daemon.output()}`));
    await expect.poll(daemon.output, { timeout: 30_000 }).toContain('Localizer daemon running');
    const client = await mcpClient(state);

    const status = await call(client, 'status');
    expect(status.isError, status.text).toBeUndefined();
    expect(status.structured?.instance).toMatchObject({ kind: 'daemon' });

    const connected = await call(client, 'connect', { names: false, ipRange: range.cidr });
    expect(connected.isError, connected.text).toBeUndefined();
    expect(connected.text).toContain('Connected:');

    const web = await call(client, 'list_services', { namespace: 'web', kind: 'forward' });
    const rows = web.structured?.tunnels as { name: string; status: string; address: string }[];
    expect(rows.map((r) => r.name)).toContain('api');
    expect(rows.every((r) => r.address.startsWith(range.cidr.split('.').slice(0, 2).join('.')))).toBe(true);
    const notRunning = await call(client, 'list_services', { status: 'running', name: 'zzz-none' });
    expect(notRunning.structured?.count).toBe(0);

    const details = await call(client, 'service_details', { namespace: 'web', name: 'api' });
    expect(details.isError, details.text).toBeUndefined();
    expect((details.structured?.tunnels as { kind: string; status: string }[])[0]).toMatchObject({
      kind: 'forward',
      status: 'running',
    });
    const unknown = await call(client, 'service_details', { namespace: 'web', name: 'no-such' });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toMatch(/No tunnel for web\/no-such\. Namespace web has: .*\bapi\b/);

    // Bad arguments are refused by the control protocol's own schemas, before anything is asked.
    const badName = await call(client, 'expose', { namespace: 'Web!', service: 'api' });
    expect(badName.isError).toBe(true);
    expect(badName.text).toMatch(/not a valid Kubernetes name/);
    const badPort = await call(client, 'expose', {
      namespace: 'web',
      service: 'api',
      mappings: [{ localPort: 70_000, remote: 'http' }],
    });
    expect(badPort.isError).toBe(true);
    expect(badPort.text).toMatch(/a port is 1-65535/);

    const exposed = await call(client, 'expose', {
      namespace: 'web',
      service: 'api',
      mappings: [{ localPort: laptopPort, remote: 'http' }],
    });
    expect(exposed.isError, exposed.text).toBeUndefined();
    expect(exposed.structured?.tunnel).toMatchObject({ kind: 'expose', status: 'running' });
    expect(Object.keys(await selectorOf('api'))).toEqual(['localizer.dev/intercept']);
    const exposes = await call(client, 'list_services', { kind: 'expose' });
    expect((exposes.structured?.tunnels as { name: string }[]).map((t) => t.name)).toEqual(['api']);

    const environment = await call(client, 'workload_environment', {
      namespace: 'web',
      workload: 'deploy/orders',
    });
    expect(environment.isError, environment.text).toBeUndefined();
    const variables = environment.structured?.variables as { name: string; value: string; secret: boolean }[];
    const secrets = variables.filter((v) => v.secret);
    expect(secrets.length, 'web/orders takes variables from a Secret').toBeGreaterThan(0);
    for (const secret of secrets) expect(secret.value).toMatch(/^\(withheld: from /);
    // DATABASE_URL takes $(DB_PASSWORD) in: withheld as well, and the password is nowhere.
    expect(variables.find((v) => v.name === 'DATABASE_URL')).toMatchObject({ secret: true });
    expect(environment.text).not.toContain('s3cr3t');
    expect(variables.some((v) => !v.secret && v.value !== '')).toBe(true);

    const unexposed = await call(client, 'unexpose', { namespace: 'web', service: 'api' });
    expect(unexposed.isError, unexposed.text).toBeUndefined();
    expect(await selectorOf('api')).toEqual({ app: 'api' });

    // The event history: the expose went away (seen within the instance's quarter second).
    await expect
      .poll(
        async () => {
          const read = await client.readResource({ uri: 'localizer://events' });
          const events = JSON.parse((read.contents[0] as { text: string }).text) as {
            name: string;
            to: string;
          }[];
          return events.some((e) => e.name === 'api' && e.to === 'gone');
        },
        { timeout: 5_000, message: 'the expose of web/api going away is in the event history' },
      )
      .toBe(true);
    const tunnels = await client.readResource({ uri: 'localizer://tunnels' });
    expect((JSON.parse((tunnels.contents[0] as { text: string }).text) as unknown[]).length).toBeGreaterThan(
      5,
    );

    // A project file: planned, brought up (twice: the second changes nothing) and down.
    const projectDirectory = mkdtempSync(join(tmpdir(), 'mcp-project-'));
    const projectFile = join(projectDirectory, 'localizer.yaml');
    writeFileSync(
      projectFile,
      `connect:\n  namespaces: [web]\n  names: false\nexposes:\n  - service: web/api\n    map: ["${String(laptopPort)}:http"]\nrun:\n  - name: api\n    workload: web/api\n    command: npm run dev\n`,
    );
    const planned = await call(client, 'project_plan', { file: projectFile });
    expect(planned.isError, planned.text).toBeUndefined();
    expect(planned.text).toMatch(/unchanged +\S+ is connected \(not by this project: down leaves it\)/);
    expect(planned.text).toContain(`expose     web/api: http → 127.0.0.1:${String(laptopPort)} (takeover)`);
    const up = await call(client, 'project_up', { file: projectFile });
    expect(up.isError, up.text).toBeUndefined();
    expect(up.text).toContain(
      `Not started from here: api. Run \`localizer up -f ${projectFile}\` in a terminal`,
    );
    expect(Object.keys(await selectorOf('api'))).toEqual(['localizer.dev/intercept']);
    const upAgain = await call(client, 'project_up', { file: projectFile });
    expect(upAgain.text).toContain('unchanged  web/api is exposed');
    expect(upAgain.structured?.changed).toBe(false);
    const down = await call(client, 'project_down', { file: projectFile });
    expect(down.isError, down.text).toBeUndefined();
    expect(down.text).toContain(`Down: ${projectFile} is undone.`);
    expect(await selectorOf('api')).toEqual({ app: 'api' });
    expect(
      (await call(client, 'list_services', { kind: 'forward' })).structured?.count,
      'down left the connection it did not make',
    ).toBeGreaterThan(0);
    const badFile = join(projectDirectory, 'bad.yaml');
    writeFileSync(badFile, 'exposes:\n  - service: web\n');
    const bad = await call(client, 'project_plan', { file: badFile });
    expect(bad.isError).toBe(true);
    expect(bad.text).toContain(`${badFile}:2:14: exposes[0].service: NAMESPACE/SERVICE`);

    const disconnected = await call(client, 'disconnect');
    expect(disconnected.text).toContain('Disconnected');
    expect((await call(client, 'list_services')).structured?.count).toBe(0);
  });

  it('gives Secret values only when the user started it with --allow-secret-values', async () => {
    const state = mkdtempSync(join(tmpdir(), 'mcp-state-'));
    const daemon = runInBackground(process.execPath, [builtCli, 'daemon'], {
      env: { LOCALIZER_STATE_DIR: state, KUBECONFIG: '', HOME: mkdtempSync(join(tmpdir(), 'mcp-home-')) },
    });
    running.push(daemon);
    await expect.poll(daemon.output, { timeout: 30_000 }).toContain('Localizer daemon running');
    const client = await mcpClient(state, ['--allow-secret-values']);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'workload_environment')?.description).toContain(
      'the user allowed it',
    );
    const environment = await call(client, 'workload_environment', {
      namespace: 'web',
      workload: 'deploy/orders',
    });
    const variables = environment.structured?.variables as { value: string; secret: boolean }[];
    expect(variables.filter((v) => v.secret).every((v) => !v.value.startsWith('(withheld'))).toBe(true);
    await daemon.stop();
  });
});
