/**
 * `npm run bench`: each path measured side by side in one run, against the same test cluster.
 * The cluster, kubectl and Localizer each run as their own process; this process is only the
 * client. Figures go to stdout and bench/results/latest.json.
 *
 *   BENCH_MEGABYTES (512)  BENCH_DUPLEX_MEGABYTES (256)  BENCH_CONNECTIONS (1000)
 *   BENCH_SCALE_NAMESPACES (10)  BENCH_SCALE_SERVICES (100)
 *   BENCH_ONLY=forward|relay|expose|router|scale runs one part.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { requestControl } from '../src/main/engine/control/control-client';
import type { ListResult } from '../src/shared/control-answers';
import { portForwardTransports, type PortForwardTransport } from '../src/shared/tunnel-status';
import { planExpose } from '../src/main/engine/expose/expose-preflight';
import { routerObjects } from '../src/main/engine/expose/router/router-objects';
import { SshPodKeeper } from '../src/main/engine/expose/ssh-pod-keeper';
import { systemClock } from '../src/main/engine/timing/clock';
import { sshNativeCryptoAvailable } from '../src/main/engine/expose/ssh-crypto';
import { generateSshKeys, sshPort } from '../src/main/engine/expose/ssh-pod';
import { defaultSshImage } from '../src/main/engine/expose/ssh-image';
import { restore, scaleDown } from '../src/main/engine/expose/workload-scaler';
import { launchHelper } from '../src/main/engine/helper/helper-launcher';
import { freePort } from '../e2e/support/sockets';
import { missingTools, missingToolsMessage } from '../e2e/support/system-tools';
import {
  createHostsSandbox,
  inHostsSandbox,
  sandboxedPid,
  sandboxEnvironment,
} from '../e2e/support/hosts-sandbox';
import {
  concurrentDownloads,
  downloadMBps,
  duplexMBps,
  interleavedDatagramRoundTrips,
  interleavedLatencies,
  percentile,
  round,
} from './measure';
import { httpDownloadMBps, interleavedHttpLatencies } from './measure-http';

/** `localizer list --json` as the instance answers it. */
function listOf(state: string): Promise<ListResult> {
  return requestControl(state, { op: 'list' });
}

const megabytes = Number(process.env.BENCH_MEGABYTES ?? 512);
const duplexMegabytes = Number(process.env.BENCH_DUPLEX_MEGABYTES ?? 256);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 1000);
const scaleNamespaces = Number(process.env.BENCH_SCALE_NAMESPACES ?? 10);
const scaleServices = Number(process.env.BENCH_SCALE_SERVICES ?? 100);
const root = process.cwd();
const tsx = join(root, 'node_modules/.bin/tsx');
const children: ChildProcess[] = [];

function start(
  command: string,
  args: string[],
  readyPattern: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (readyPattern.test(output)) resolve({ child, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`${command} ${args.join(' ')} exited with ${String(code)}:\n${output}`)),
    );
  });
}

async function startCluster(
  scenario: string,
  extra: string[] = [],
): Promise<{ kubeconfig: string; child: ChildProcess }> {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'bench-cluster-')), 'kubeconfig');
  const { child } = await start(
    tsx,
    ['e2e/cluster/cli.ts', '--scenario', scenario, '--kubeconfig', kubeconfig, ...extra],
    /test cluster ready/,
  );
  return { kubeconfig, child };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

function rssMegabytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Throws unless every forward of the Localizer at `state` went over `transport`. */
async function expectTransport(state: string, transport: PortForwardTransport): Promise<void> {
  const used = new Set((await listOf(state)).tunnels.flatMap((t) => (t.transport ? [t.transport] : [])));
  if (used.size !== 1 || !used.has(transport))
    throw new Error(
      `LOCALIZER_PORT_FORWARD=${transport} was asked for, but its forwards used ${[...used].join(', ') || 'none'}: that row would measure another transport`,
    );
}

async function stats(
  kubeconfigPath: string,
): Promise<{ requests: number; portForwardUpgrades?: Record<PortForwardTransport, number> }> {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const options: { headers?: Record<string, string>; ca?: Buffer } = {};
  await kubeConfig.applyToHTTPSOptions(options);
  const server = kubeConfig.getCurrentCluster()?.server ?? '';
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    request(`${server}/localizer-test/v1/stats`, { ...options, method: 'GET' }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () =>
        resolve(
          JSON.parse(body) as {
            requests: number;
            portForwardUpgrades?: Record<PortForwardTransport, number>;
          },
        ),
      );
    })
      .on('error', reject)
      .end();
  });
}

interface PathFigures {
  path: string;
  throughputMBps: number;
  connectP50Ms: number;
  connectP99Ms: number;
  /** 32 connections at once, 16 MiB each. */
  concurrentMBps: number;
  concurrentFirstByteP99Ms: number;
  /** CPU the forwarding process spent per GiB downloaded: what decides throughput on 2 shared cores. */
  forwarderCpuSecondsPerGiB: number | null;
  /** One connection to the echo pod, written and read at once: MB/s each way. */
  duplexMBps: number;
  /** CPU the forwarding process spent per GiB each way, full duplex. */
  duplexCpuSecondsPerGiB: number | null;
}

/** Voluntary and involuntary context switches of every thread of `pid`: how often it woke up. */
function contextSwitches(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
    total += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    total += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return total;
}

/** CPU seconds used so far by `pid` and every process below it (Linux clock ticks are 1/100 s). */
function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  const visit = (current: number): void => {
    try {
      const fields = readFileSync(`/proc/${current}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(' ') : []) visit(Number(child));
      }
    } catch {
      // The process ended between reads.
    }
  };
  visit(pid);
  return ticks / 100;
}

interface PathTarget {
  path: string;
  bulk: { host: string; port: number };
  echo: { host: string; port: number };
  forwarderPids?: number[];
}

/**
 * Measures paths side by side: downloads round-robin (one of each path per round, the median of
 * three rounds) and new connections interleaved (one of each path in turn, 1000 rounds), so a
 * noisy neighbour on two shared cores weighs on every path alike rather than on whichever ran
 * at a bad moment. 32-at-once runs one path at a time (they would share the cores otherwise).
 */
async function measurePaths(targets: readonly PathTarget[]): Promise<PathFigures[]> {
  // Warm-up, both ways, for every path alike: a long-running forwarder is measured as it runs
  // once its code is compiled (the first large transfer through Node runs partly unoptimized;
  // Go's kubectl gains nothing from this).
  for (const target of targets) {
    await downloadMBps(target.bulk.host, target.bulk.port, 64 * 1024 * 1024);
    await duplexMBps(target.echo.host, target.echo.port, 32 * 1024 * 1024);
  }
  const runs = targets.map(() => [] as number[]);
  const cpu = targets.map(() => 0);
  for (let round = 0; round < 3; round++) {
    for (const [index, target] of targets.entries()) {
      const pids = target.forwarderPids ?? [];
      const before = pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
      runs[index]?.push(await downloadMBps(target.bulk.host, target.bulk.port, megabytes * 1024 * 1024));
      cpu[index] = (cpu[index] ?? 0) + pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0) - before;
    }
  }
  // Full duplex, round-robin too: one connection written and read at once, on the echo pod.
  const duplexRuns = targets.map(() => [] as number[]);
  const duplexCpu = targets.map(() => 0);
  for (let round = 0; round < 3; round++) {
    for (const [index, target] of targets.entries()) {
      const pids = target.forwarderPids ?? [];
      const before = pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
      duplexRuns[index]?.push(
        await duplexMBps(target.echo.host, target.echo.port, duplexMegabytes * 1024 * 1024),
      );
      duplexCpu[index] =
        (duplexCpu[index] ?? 0) + pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0) - before;
    }
  }
  const latencies = await interleavedLatencies(
    targets.map((t) => t.echo),
    connections,
  );
  const results: PathFigures[] = [];
  for (const [index, target] of targets.entries()) {
    const concurrent = await concurrentDownloads(target.bulk.host, target.bulk.port, 32, 16 * 1024 * 1024);
    const sorted = latencies[index] ?? [];
    const figures: PathFigures = {
      path: target.path,
      throughputMBps: Math.round([...(runs[index] ?? [])].sort((x, y) => x - y)[1] ?? Number.NaN),
      connectP50Ms: round(percentile(sorted, 50)),
      connectP99Ms: round(percentile(sorted, 99)),
      concurrentMBps: Math.round(concurrent.aggregateMBps),
      concurrentFirstByteP99Ms: round(percentile(concurrent.firstByteMs, 99)),
      forwarderCpuSecondsPerGiB:
        (target.forwarderPids ?? []).length > 0 ? round((cpu[index] ?? 0) / ((3 * megabytes) / 1024)) : null,
      duplexMBps: Math.round([...(duplexRuns[index] ?? [])].sort((x, y) => x - y)[1] ?? Number.NaN),
      duplexCpuSecondsPerGiB:
        (target.forwarderPids ?? []).length > 0
          ? round((duplexCpu[index] ?? 0) / ((3 * duplexMegabytes) / 1024))
          : null,
    };
    process.stdout.write(
      `  ${figures.path}: ${figures.throughputMBps} MB/s, p50 ${figures.connectP50Ms} ms, p99 ${figures.connectP99Ms} ms, 32 at once ${figures.concurrentMBps} MB/s (first byte p99 ${figures.concurrentFirstByteP99Ms} ms), full duplex ${figures.duplexMBps} MB/s, ${String(figures.forwarderCpuSecondsPerGiB ?? '-')} CPU s/GiB\n`,
    );
    results.push(figures);
  }
  return results;
}

async function measurePath(
  path: string,
  bulk: { host: string; port: number },
  echo: { host: string; port: number },
  forwarderPids: number[] = [],
): Promise<PathFigures> {
  const [figures] = await measurePaths([{ path, bulk, echo, forwarderPids }]);
  if (!figures) throw new Error(`no figures for ${path}`);
  return figures;
}

async function forwardPaths(): Promise<PathFigures[]> {
  process.stdout.write(
    `Forward paths, side by side: ${megabytes} MiB downloads round-robin, ${connections} new connections each, interleaved\n`,
  );
  const cluster = await startCluster('demo');
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const pods = (await core.listNamespacedPod({ namespace: 'tools' })).items;
  const pod = (prefix: string) => pods.find((p) => p.metadata?.name?.startsWith(prefix));
  const bulkPod = pod('bulk-');
  const echoPod = pod('echo-');
  const targets: PathTarget[] = [
    {
      path: 'direct to the pod',
      bulk: { host: bulkPod?.status?.podIP ?? '', port: 9000 },
      echo: { host: echoPod?.status?.podIP ?? '', port: 7007 },
    },
  ];

  const kubectlForward = async (target: string, remote: number): Promise<{ port: number; pid: number }> => {
    const port = await freePort();
    const { child } = await start(
      'kubectl',
      ['--kubeconfig', cluster.kubeconfig, 'port-forward', '-n', 'tools', target, `${port}:${remote}`],
      /Forwarding from/,
    );
    return { port, pid: child.pid ?? 0 };
  };
  const bulkForward = await kubectlForward(`pod/${bulkPod?.metadata?.name ?? ''}`, 9000);
  const echoForward = await kubectlForward(`pod/${echoPod?.metadata?.name ?? ''}`, 7007);
  targets.push({
    path: 'kubectl port-forward',
    bulk: { host: '127.0.0.1', port: bulkForward.port },
    echo: { host: '127.0.0.1', port: echoForward.port },
    // One kubectl per pod: both count, as one Localizer carries both.
    forwarderPids: [bulkForward.pid, echoForward.pid],
  });

  // Localizer on each port-forward transport at once, each its own process and address range.
  let defaultForwards: { ip: (name: string) => string; pid: number } | undefined;
  const transportChecks: (() => Promise<void>)[] = [];
  for (const [index, transport] of portForwardTransports.entries()) {
    const state = mkdtempSync(join(tmpdir(), 'bench-state-'));
    await start(
      process.execPath,
      [
        ...['out/main/cli.js', 'connect', '--kubeconfig', cluster.kubeconfig, '--no-names'],
        ...['--ip-range', `127.${String(90 + index * 2)}.0.0/16`],
      ],
      /Connected:/,
      // No LOCALIZER_DIAGNOSTICS: every row is measured as a user runs it.
      { LOCALIZER_STATE_DIR: state, LOCALIZER_PORT_FORWARD: transport },
    );
    const listed = await listOf(state);
    const ip = (name: string) =>
      listed.tunnels.find((t) => t.namespace === 'tools' && t.name === name)?.ip ?? '';
    if (transport === 'spdy-websocket') defaultForwards = { ip, pid: listed.pid };
    transportChecks.push(() => expectTransport(state, transport));
    targets.push({
      path: `Localizer connect (${transport === 'spdy-websocket' ? 'SPDY over WebSocket, the default' : transport === 'spdy' ? 'raw SPDY' : 'WebSocket per connection'})`,
      bulk: { host: ip('bulk'), port: 9000 },
      echo: { host: ip('echo'), port: 7007 },
      forwarderPids: [listed.pid],
    });
  }

  let helper: Awaited<ReturnType<typeof launchHelper>> | undefined;
  if (process.getuid?.() === 0 && defaultForwards) {
    // Ports below 1024: the helper (root, in a private mount namespace) relays port 80 to the
    // engine's listener on the same address. Same forwards, one hop more.
    const sandbox = mkdtempSync(join(tmpdir(), 'bench-helper-'));
    mkdirSync(join(sandbox, 'run'), { mode: 0o711 });
    writeFileSync(join(sandbox, 'hosts'), '127.0.0.1 localhost\n');
    helper = await launchHelper({
      command: 'unshare',
      args: [
        ...['--mount', '--propagation', 'private', '--fork', '--kill-child', '--', 'sh', '-c'],
        'node="$1"; shift; mount --bind "$0" /etc/hosts && exec "$node" --import tsx src/privileged-helper/main.ts "$@"',
        join(sandbox, 'hosts'),
        process.execPath,
      ],
      socketDirectory: join(sandbox, 'run'),
      range: '127.90.0.0/16',
      elevation: 'direct',
    });
    const { ip, pid } = defaultForwards;
    await helper.client.setRelays([
      { ip: ip('bulk'), port: 80, targetPort: 9000 },
      { ip: ip('echo'), port: 80, targetPort: 7007 },
    ]);
    targets.push({
      path: 'Localizer, port 80 via helper relay',
      bulk: { host: ip('bulk'), port: 80 },
      echo: { host: ip('echo'), port: 80 },
      forwarderPids: [pid, helper.client.hello.pid],
    });
  }
  const results = await measurePaths(targets);
  // A row is published only for the transport its label names: each Localizer says which one
  // its connections took, and the API server must have served every one of them.
  for (const check of transportChecks) await check();
  const served = (await stats(cluster.kubeconfig)).portForwardUpgrades;
  for (const transport of portForwardTransports)
    if (!served || served[transport] === 0)
      throw new Error(
        `the API server served no ${transport} port-forward, so its row would measure another one`,
      );
  if (helper) {
    helper.client.close();
    await stopChild(helper.process);
  }
  for (const child of children.splice(0)) await stopChild(child, 'SIGINT');
  return results;
}

interface DatagramFigures {
  path: string;
  roundTripP50Ms: number;
  roundTripP99Ms: number;
}

/**
 * The egress relay next to a port-forward to the same pods, in one run: selector-less services
 * whose endpoints are the bulk and echo pods' addresses (so the relay pod dials them), a forward
 * of those pods' own services, and the pods directly; then UDP round trips to the statsd pod
 * through the relay (to its cluster IP) and directly.
 */
async function relayPaths(): Promise<{ paths: PathFigures[]; datagrams: DatagramFigures[] }> {
  process.stdout.write(
    `Relay paths, side by side: ${megabytes} MiB downloads round-robin, ${connections} new connections and UDP round trips each, interleaved\n`,
  );
  const cluster = await startCluster('demo');
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const pods = (await core.listNamespacedPod({ namespace: 'tools' })).items;
  const podIp = (prefix: string): string =>
    pods.find((p) => p.metadata?.name?.startsWith(prefix))?.status?.podIP ?? '';
  // Selector-less services whose endpoints name the pods' addresses, as one names a database
  // outside the cluster: the relay pod dials the pod itself, so the path measured is the relay's
  // own (the test cluster's kube-proxy is JavaScript in the API server's process, where a real
  // one is the kernel's).
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  for (const [name, port] of [
    ['bulk', 9000],
    ['echo', 7007],
  ] as const) {
    await core.createNamespacedService({
      namespace: 'tools',
      body: { metadata: { name: `${name}-outside` }, spec: { ports: [{ name: 'main', port }] } },
    });
    await discovery.createNamespacedEndpointSlice({
      namespace: 'tools',
      body: {
        metadata: { name: `${name}-outside-1`, labels: { 'kubernetes.io/service-name': `${name}-outside` } },
        addressType: 'IPv4',
        ports: [{ name: 'main', port, protocol: 'TCP' }],
        endpoints: [{ addresses: [podIp(`${name}-`)], conditions: { ready: true } }],
      },
    });
  }
  const state = mkdtempSync(join(tmpdir(), 'bench-state-'));
  await start(
    process.execPath,
    [
      'out/main/cli.js',
      'connect',
      '--kubeconfig',
      cluster.kubeconfig,
      '--no-names',
      '--ip-range',
      '127.96.0.0/16',
    ],
    /Connected:/,
    { LOCALIZER_STATE_DIR: state },
  );
  const listed = await listOf(state);
  const ip = (name: string): string =>
    listed.tunnels.find((t) => t.namespace === 'tools' && t.name === name)?.ip ?? '';
  const paths = await measurePaths([
    {
      path: 'direct to the pod',
      bulk: { host: podIp('bulk-'), port: 9000 },
      echo: { host: podIp('echo-'), port: 7007 },
    },
    {
      path: 'Localizer connect, port-forward to the pod',
      bulk: { host: ip('bulk'), port: 9000 },
      echo: { host: ip('echo'), port: 7007 },
      forwarderPids: [listed.pid],
    },
    {
      path: 'Localizer egress relay (selector-less service, relay pod to the pod address)',
      bulk: { host: ip('bulk-outside'), port: 9000 },
      echo: { host: ip('echo-outside'), port: 7007 },
      forwarderPids: [listed.pid],
    },
  ]);
  const udpTargets = [
    { path: 'UDP direct to the pod', host: podIp('statsd-'), port: 8125 },
    { path: 'UDP through the Localizer relay', host: ip('statsd'), port: 8125 },
  ];
  const roundTrips = await interleavedDatagramRoundTrips(udpTargets, connections);
  const datagrams = udpTargets.map((target, index) => {
    const sorted = roundTrips[index] ?? [];
    const figures = {
      path: target.path,
      roundTripP50Ms: round(percentile(sorted, 50)),
      roundTripP99Ms: round(percentile(sorted, 99)),
    };
    process.stdout.write(
      `  ${figures.path}: p50 ${figures.roundTripP50Ms} ms, p99 ${figures.roundTripP99Ms} ms\n`,
    );
    return figures;
  });
  for (const child of children.splice(0)) await stopChild(child, 'SIGINT');
  return { paths, datagrams };
}

async function scale(): Promise<Record<string, number>> {
  const total = scaleNamespaces * scaleServices;
  process.stdout.write(
    `Scale: ${scaleNamespaces} namespaces × ${scaleServices} services = ${total} services\n`,
  );
  const cluster = await startCluster('scale', [
    '--namespaces',
    String(scaleNamespaces),
    '--services',
    String(scaleServices),
  ]);
  const state = mkdtempSync(join(tmpdir(), 'bench-state-'));
  const isRoot = process.getuid?.() === 0;
  // As root, names go through the real helper into a private /etc/hosts (a mount namespace).
  const sandbox = createHostsSandbox('127.0.0.1 localhost\n');
  const hostsFile = sandbox.hostsFile;
  // The built CLI, as users run it: its memory is what counts, not a TypeScript loader's.
  const cliArgs = [
    'out/main/cli.js',
    'connect',
    '--kubeconfig',
    cluster.kubeconfig,
    '--ip-range',
    '127.91.0.0/16',
  ];
  const startedAt = Date.now();
  const sandboxed = inHostsSandbox(sandbox, process.execPath, cliArgs);
  const localizer = isRoot
    ? await start(sandboxed.command, sandboxed.args, /Connected:/, {
        ...sandboxEnvironment(sandbox),
        LOCALIZER_STATE_DIR: state,
      })
    : await start(process.execPath, [...cliArgs, '--no-names'], /Connected:/, { LOCALIZER_STATE_DIR: state });
  const connectedAt = Date.now();
  let listed = await listOf(state);
  let engineStats = listed.stats;
  while (engineStats?.timings.readyAt === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    listed = await listOf(state);
    engineStats = listed.stats;
  }
  const { timings } = engineStats;
  const names = readFileSync(hostsFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('127.91.')).length;
  const before = await stats(cluster.kubeconfig);
  // Idle, as a tray app spends most of its day: CPU, wake-ups (context switches), API requests.
  const idleSeconds = 60;
  process.stdout.write(`  idle for ${idleSeconds} s: CPU, wake-ups and API requests…\n`);
  const cpuBefore = treeCpuSeconds(listed.pid);
  const wakeUpsBefore = contextSwitches(listed.pid);
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  const idleCpuSeconds = treeCpuSeconds(listed.pid) - cpuBefore;
  const idleWakeUps = contextSwitches(listed.pid) - wakeUpsBefore;
  const after = await stats(cluster.kubeconfig);
  const figures = {
    services: total,
    msFromProcessStartToAllReady: connectedAt - startedAt,
    msFromFirstListToAllReady: (timings.readyAt ?? Number.NaN) - (timings.firstListAt ?? Number.NaN),
    hostsEntries: names,
    hostsWrites: engineStats.hostsWrites,
    engineRssMB: Math.round(rssMegabytes(listed.pid)),
    idleCpuSecondsPerMinute: round(idleCpuSeconds),
    idleWakeUpsPerMinute: idleWakeUps,
    apiRequestsWhileIdlePerMinute: after.requests - before.requests - 1,
  };
  for (const [key, value] of Object.entries(figures)) process.stdout.write(`  ${key}: ${value}\n`);
  // Ctrl-C goes to connect itself: unshare, its parent in the sandbox, ignores SIGINT and waits.
  const exited = new Promise((resolve) => localizer.child.once('exit', resolve));
  process.kill(isRoot ? await sandboxedPid(localizer.child.pid ?? 0) : (localizer.child.pid ?? 0), 'SIGINT');
  await exited;
  for (const child of children.splice(0)) await stopChild(child);
  return figures;
}

/** A test-image program run on the laptop side, on 127.0.0.1:`port`, naming itself `laptop`. */
async function laptopServer(
  image: 'bulk-server' | 'echo-server' | 'http-server',
  port: number,
): Promise<void> {
  await start(process.execPath, [`e2e/cluster/images/${image}.mjs`], /listening/, {
    POD_IP: '127.0.0.1',
    POD_NAME: 'laptop',
    POD_NAMESPACE: 'laptop',
    LOCALIZER_CONTAINER_PORTS: String(port),
  });
}

/** Until every pod behind `app` is an SSH pod (the service's own pods are gone). */
async function waitForSshPodsOnly(core: k8s.CoreV1Api, app: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace: 'tools', labelSelector: `app=${app}` });
    const serving = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    const ready = serving.every((p) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (serving.length > 0 && ready && serving.every((p) => p.metadata?.name?.startsWith('localizer-')))
      return;
    if (Date.now() > deadline) throw new Error(`tools/${app} never routed to the SSH pod alone`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface ExposeFigures extends PathFigures {
  nativeCrypto?: boolean;
}

/**
 * Calls from the cluster (the service's cluster IP) to servers on the laptop: through `localizer
 * expose` (ssh2 over the pod dialer), and through OpenSSH `ssh -N -R` over `kubectl port-forward`
 * to an SSH pod made from the same manifest, image and sshd config.
 */
async function exposePaths(): Promise<ExposeFigures[]> {
  process.stdout.write(
    `Expose paths: ${megabytes} MiB download, ${connections} sequential new connections each\n`,
  );
  const cluster = await startCluster('demo');
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  const clusterIp = async (name: string): Promise<string> =>
    (await core.readNamespacedService({ namespace: 'tools', name })).spec?.clusterIP ?? '';
  const bulk = { host: await clusterIp('bulk'), port: 9000 };
  const echo = { host: await clusterIp('echo'), port: 7007 };
  const laptopBulk = await freePort();
  const laptopEcho = await freePort();
  await laptopServer('bulk-server', laptopBulk);
  await laptopServer('echo-server', laptopEcho);
  const results: ExposeFigures[] = [];

  // Localizer: the CLI as a user runs it; the second expose joins the first one's instance.
  const state = mkdtempSync(join(tmpdir(), 'bench-expose-'));
  const cli = (args: string[], ready: RegExp) =>
    start(process.execPath, ['out/main/cli.js', ...args, '--kubeconfig', cluster.kubeconfig], ready, {
      LOCALIZER_STATE_DIR: state,
    });
  const instance = await cli(['expose', 'tools/bulk', '--map', `${laptopBulk}:bulk`], /Press Ctrl-C/);
  await cli(['expose', 'tools/echo', '--map', `${laptopEcho}:echo`], /It runs in /);
  await waitForSshPodsOnly(core, 'bulk');
  await waitForSshPodsOnly(core, 'echo');
  results.push({
    ...(await measurePath('Localizer expose (ssh2)', bulk, echo, [instance.child.pid ?? 0])),
    // The CLI warns when its ssh2 runs without the binding; this process loads the same one.
    nativeCrypto:
      sshNativeCryptoAvailable() && !instance.output().includes('native crypto binding did not load'),
  });
  await stopChild(instance.child, 'SIGINT');

  // OpenSSH over kubectl port-forward, to pods made by the same code.
  const keys = generateSshKeys();
  const work = mkdtempSync(join(tmpdir(), 'bench-openssh-'));
  writeFileSync(join(work, 'id'), keys.clientPrivateKey, { mode: 0o600 });
  const session = { owner: 'bench@localizer', session: 'bench' };
  const apis = {
    core,
    apps,
    autoscaling: kubeConfig.makeApiClient(k8s.AutoscalingV2Api),
    discovery: kubeConfig.makeApiClient(k8s.DiscoveryV1Api),
  };
  const tunnels: { pids: number[]; undo: () => Promise<void> }[] = [];
  for (const [name, laptopPort] of [
    ['bulk', laptopBulk],
    ['echo', laptopEcho],
  ] as const) {
    // The engine's own checks and SSH pod: only the tunnel differs.
    const { service, workloads, ports } = await planExpose(
      apis,
      { context: 'bench', namespace: 'tools', service: name },
      [{ localPort: laptopPort, remote: name }],
    );
    const pod = new SshPodKeeper({
      apis,
      clock: systemClock,
      ...session,
      image: defaultSshImage,
      keys,
      service,
      ports,
      workloads,
      pollMs: 100,
      isStopping: () => false,
      // The OpenSSH comparison scales the workloads down itself, below.
      mode: 'scale-down',
    });
    await pod.create();
    const running = await pod.waitFor(
      (p) => p.status?.phase === 'Running' && Boolean(p.status.podIP),
      'start running',
      60_000,
    );
    const podIp = running.status?.podIP ?? '';
    const forwardPort = await freePort();
    const kubectl = await start(
      'kubectl',
      [
        '--kubeconfig',
        cluster.kubeconfig,
        'port-forward',
        '-n',
        'tools',
        `pod/${pod.podName ?? ''}`,
        `${forwardPort}:${sshPort}`,
      ],
      /Forwarding from/,
    );
    writeFileSync(join(work, `known_hosts_${name}`), `[127.0.0.1]:${forwardPort} ${keys.hostPublicKey}\n`);
    const ssh = spawn(
      'ssh',
      [
        '-N',
        '-i',
        join(work, 'id'),
        '-p',
        String(forwardPort),
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${join(work, `known_hosts_${name}`)}`,
        '-o',
        'ExitOnForwardFailure=yes',
        '-o',
        'ServerAliveInterval=5',
        '-R',
        `${podIp}:${ports[0]?.targetPort ?? 0}:127.0.0.1:${laptopPort}`,
        `${defaultSshImage.user}@127.0.0.1`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(ssh);
    await scaleDown(apps, workloads, session);
    tunnels.push({
      pids: [ssh.pid ?? 0, kubectl.child.pid ?? 0],
      undo: async () => {
        await stopChild(ssh);
        await stopChild(kubectl.child);
        await restore(apps, workloads, session.session);
        await pod.deleteAll();
      },
    });
  }
  await waitForSshPodsOnly(core, 'bulk');
  await waitForSshPodsOnly(core, 'echo');
  results.push(
    await measurePath(
      'OpenSSH ssh -N -R over kubectl port-forward',
      bulk,
      echo,
      tunnels.flatMap((t) => t.pids),
    ),
  );
  for (const tunnel of tunnels) await tunnel.undo();
  for (const child of children.splice(0)) await stopChild(child);
  return results;
}

interface RouterFigures {
  path: string;
  newConnectionP50Ms: number;
  newConnectionP99Ms: number;
  keepAliveP50Ms: number;
  keepAliveP99Ms: number;
  downloadMBps: number;
}

/** Until every endpoint of web/api is a router pod: calls to its cluster IP go through HAProxy. */
async function waitForRouterOnly(discovery: k8s.DiscoveryV1Api): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const slices = await discovery.listNamespacedEndpointSlice({
      namespace: 'web',
      labelSelector: 'kubernetes.io/service-name=api',
    });
    const endpoints = slices.items.flatMap((slice) => slice.endpoints ?? []);
    if (
      endpoints.length > 0 &&
      endpoints.every((e) => e.conditions?.ready && e.targetRef?.name?.startsWith('localizer-router-'))
    )
      return;
    if (Date.now() > deadline) throw new Error('web/api never routed through its router pod alone');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * What a personal intercept's router (HAProxy, behind web/api) costs everyone else: requests
 * without the developer's header through the router to the Service's own pods, side by side
 * with the same requests to those pods through the origin Service (the Service's own selector,
 * as web/api was before), interleaved; and the developer's own requests, through the router and
 * their tunnel to the laptop.
 */
async function routerPaths(): Promise<RouterFigures[]> {
  process.stdout.write(
    `Router paths, side by side: ${connections} HTTP requests each on new and on kept-alive connections, interleaved; ${megabytes} MiB downloads round-robin\n`,
  );
  const cluster = await startCluster('demo');
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  const laptopPort = await freePort();
  await laptopServer('http-server', laptopPort);
  const state = mkdtempSync(join(tmpdir(), 'bench-router-'));
  const expose = await start(
    process.execPath,
    [
      ...['out/main/cli.js', 'expose', 'web/api', '--map', `${laptopPort}:http`, '--header', 'x-dev=bench'],
      ...['--kubeconfig', cluster.kubeconfig],
    ],
    /Exposed:/,
    { LOCALIZER_STATE_DIR: state },
  );
  await waitForRouterOnly(discovery);
  const clusterIp = async (name: string): Promise<string> =>
    (await core.readNamespacedService({ namespace: 'web', name })).spec?.clusterIP ?? '';
  const fromPods = (body: string): boolean => body.includes('"namespace":"web"');
  const targets = [
    {
      path: 'to the pods through their Service (no router)',
      host: await clusterIp(routerObjects('api').origin),
      port: 8080,
      answeredBy: fromPods,
    },
    {
      path: 'to the pods through the router (requests without the header)',
      host: await clusterIp('api'),
      port: 8080,
      answeredBy: fromPods,
    },
    {
      path: "to the laptop through the router and the developer's tunnel (x-dev: bench)",
      host: await clusterIp('api'),
      port: 8080,
      headers: { 'x-dev': 'bench' },
      answeredBy: (body: string) => body.includes('"namespace":"laptop"'),
    },
  ];
  // Warm-up for every path alike: HAProxy's and Node's first connections, and the JIT.
  await interleavedHttpLatencies(targets, 50, false);
  const fresh = await interleavedHttpLatencies(targets, connections, false);
  const kept = await interleavedHttpLatencies(targets, connections, true);
  const downloads = targets.map(() => [] as number[]);
  for (let round = 0; round < 3; round++)
    for (const [index, target] of targets.entries())
      downloads[index]?.push(await httpDownloadMBps(target, megabytes * 1024 * 1024));
  const results = targets.map((target, index): RouterFigures => {
    const figures = {
      path: target.path,
      newConnectionP50Ms: round(percentile(fresh[index] ?? [], 50)),
      newConnectionP99Ms: round(percentile(fresh[index] ?? [], 99)),
      keepAliveP50Ms: round(percentile(kept[index] ?? [], 50)),
      keepAliveP99Ms: round(percentile(kept[index] ?? [], 99)),
      downloadMBps: Math.round([...(downloads[index] ?? [])].sort((x, y) => x - y)[1] ?? Number.NaN),
    };
    process.stdout.write(
      `  ${figures.path}: new connection p50 ${figures.newConnectionP50Ms} ms, p99 ${figures.newConnectionP99Ms} ms; kept alive p50 ${figures.keepAliveP50Ms} ms, p99 ${figures.keepAliveP99Ms} ms; ${figures.downloadMBps} MB/s\n`,
    );
    return figures;
  });
  // Ctrl-C gives web/api back; the bench fails rather than leave the router behind.
  await stopChild(expose.child, 'SIGINT');
  if (expose.child.exitCode !== 0) throw new Error(`the expose did not stop cleanly:\n${expose.output()}`);
  for (const child of children.splice(0)) await stopChild(child);
  return results;
}

// Fail now, naming what to install, rather than minutes in with a timeout.
const missing = missingTools(['kubectl', 'sshd', 'ssh', 'utilLinux', 'haproxy']);
if (missing.length > 0) {
  process.stderr.write(
    `${missingToolsMessage(missing).replace('these tests need', 'the benchmark needs')}\n`,
  );
  process.exit(1);
}

try {
  process.stdout.write('Building the CLI (npm run build)…\n');
  await start('npm', ['run', 'build'], /out\/renderer\/index\.html/);
  const only = process.env.BENCH_ONLY;
  const forward = only === undefined || only === 'forward' ? await forwardPaths() : [];
  if (forward.length > 0) console.table(forward);
  const relay = only === undefined || only === 'relay' ? await relayPaths() : { paths: [], datagrams: [] };
  if (relay.paths.length > 0) console.table([...relay.paths, ...relay.datagrams]);
  const expose = only === undefined || only === 'expose' ? await exposePaths() : [];
  if (expose.length > 0) console.table(expose);
  const router = only === undefined || only === 'router' ? await routerPaths() : [];
  if (router.length > 0) console.table(router);
  const scaleFigures = only === undefined || only === 'scale' ? await scale() : {};
  const directory = join(root, 'bench/results');
  mkdirSync(directory, { recursive: true });
  writeFileSync(
    join(directory, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), megabytes, connections, forward, relay, expose, router, scale: scaleFigures }, null, 2)}\n`,
  );
} finally {
  for (const child of children) await stopChild(child);
}
