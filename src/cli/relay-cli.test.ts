/**
 * Relay pods as a user meets them through the built CLI: made by the first connection, gone
 * after Ctrl-C, and after a SIGKILL gone again by `localizer cleanup` or by the next connect.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceTypeOfKind } from '../../e2e/cluster/api/resources';
import { startTestCluster, type TestCluster } from '../../e2e/cluster/test-cluster';
import { takeLocalizerRange } from '../../e2e/support/address-ranges';
import { pollUntil } from '../../e2e/support/poll';
import { run, runInBackground, type Background } from '../../e2e/support/processes';
import { getJson } from '../../e2e/support/sockets';
import type { TunnelStatus } from '../shared/tunnel-status';
import { builtCli } from '../../e2e/support/built-localizer';

const nodeArgs = [builtCli];
let cluster: TestCluster;
let range: { cidr: string; release: () => void };
const background: Background[] = [];

function environment(state: string): NodeJS.ProcessEnv {
  return { LOCALIZER_STATE_DIR: state, KUBECONFIG: cluster.kubeconfigPath };
}

function relayPods(): string[] {
  return cluster.store
    .list(resourceTypeOfKind('Pod'))
    .map((p) => p.metadata.name ?? '')
    .filter((name) => name.startsWith('localizer-relay-'));
}

async function connectInBackground(state: string): Promise<Background> {
  const connect = runInBackground(
    process.execPath,
    [...nodeArgs, 'connect', '--no-names', '--ip-range', range.cidr],
    { env: environment(state) },
  );
  background.push(connect);
  await pollUntil(
    () => connect.output().includes('Connected'),
    30_000,
    `connect to say Connected:\n${connect.output()}`,
  );
  return connect;
}

/** Calls data/billing through the relay, at the address `localizer list --json` gives it. */
async function callBilling(state: string): Promise<void> {
  const listed = await run(process.execPath, [...nodeArgs, 'list', '--json'], { env: environment(state) });
  const billing = (JSON.parse(listed.stdout) as TunnelStatus[]).find((t) => t.name === 'billing');
  expect(billing?.ip, listed.stdout + listed.stderr).toBeTruthy();
  expect(await getJson(billing?.ip ?? '', 8080)).toMatchObject({ pod: 'billing.example.com' });
}

function exited(connect: Background): Promise<void> {
  return new Promise((resolve) => {
    if (connect.child.exitCode !== null || connect.child.signalCode !== null) resolve();
    else connect.child.once('exit', () => resolve());
  });
}

/** A connect that made a relay pod, then was SIGKILLed: its state directory and the pod it left. */
async function killedWithARelay(): Promise<{ state: string; left: string | undefined }> {
  const state = mkdtempSync(join(tmpdir(), 'relay-cli-'));
  const connect = await connectInBackground(state);
  await callBilling(state);
  const [left] = relayPods();
  connect.child.kill('SIGKILL');
  await exited(connect);
  return { state, left };
}

beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'demo' });
  range = takeLocalizerRange();
});
afterAll(async () => {
  for (const started of background) await started.stop();
  await cluster.stop();
  range.release();
});

describe('relay pods and the CLI', () => {
  it('are made by the first connection and deleted by Ctrl-C', async () => {
    const state = mkdtempSync(join(tmpdir(), 'relay-cli-'));
    const connect = await connectInBackground(state);
    expect(relayPods()).toEqual([]);
    await callBilling(state);
    expect(relayPods()).toHaveLength(1);
    connect.child.kill('SIGINT');
    await exited(connect);
    expect(connect.child.exitCode).toBe(0);
    expect(relayPods()).toEqual([]);
  });

  it('after a SIGKILL, are deleted by `localizer cleanup`', async () => {
    const { state, left } = await killedWithARelay();
    expect(relayPods()).toEqual([left]);
    const cleanup = await run(process.execPath, [...nodeArgs, 'cleanup'], { env: environment(state) });
    expect(cleanup.code, cleanup.stdout + cleanup.stderr).toBe(0);
    expect(cleanup.stdout + cleanup.stderr).toContain(`deleted relay pod data/${left ?? ''}`);
    await pollUntil(() => relayPods().length === 0, 15_000, 'the deleted relay pod to terminate');
  });

  it('after a SIGKILL, are deleted by the next connect, which says so', async () => {
    const { state, left } = await killedWithARelay();
    const second = await connectInBackground(state);
    await pollUntil(() => relayPods().length === 0, 15_000, 'the earlier run’s relay pod to be deleted');
    expect(second.output()).toContain(`Cleanup: deleted relay pod data/${left ?? ''}.`);
    second.child.kill('SIGINT');
    await exited(second);
  });
});
