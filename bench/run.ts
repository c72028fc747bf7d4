/**
 * `npm run bench`: throughput and new-connection latency against the demo cluster, each path
 * measured side by side in one run. Figures go to stdout and bench/results/latest.json.
 * Today's paths: direct to the pod, and kubectl port-forward (the baseline Localizer must beat).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { field } from '../e2e/cluster/api/objects';
import { resourceTypeOfKind } from '../e2e/cluster/api/resources';
import { freePort } from '../e2e/support/sockets';
import { startTestCluster } from '../e2e/cluster/test-cluster';

const megabytes = Number(process.env.BENCH_MEGABYTES ?? 512);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 1000);

interface Figures {
  path: string;
  throughputMBps: number;
  connectP50Ms: number;
  connectP99Ms: number;
}

/** Asks the bulk server for `bytes` and times how long they take to arrive. */
function download(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let received = 0;
    const socket = connect({ host, port }, () => socket.write(`SEND ${bytes}\n`));
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('end', () => {
      if (received !== bytes) reject(new Error(`received ${received} of ${bytes} bytes`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e9);
    });
    socket.on('error', reject);
  });
}

/** Time to a first echoed byte on a new connection, over `count` sequential connections. */
async function connectLatencies(host: string, port: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port }, () => socket.write('x'));
      socket.once('data', () => {
        samples.push(Number(process.hrtime.bigint() - started) / 1e6);
        socket.destroy();
        resolve();
      });
      socket.on('error', reject);
    });
  }
  return samples.sort((a, b) => a - b);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measure(
  path: string,
  bulk: { host: string; port: number },
  echo: { host: string; port: number },
): Promise<Figures> {
  const seconds = await download(bulk.host, bulk.port, megabytes * 1024 * 1024);
  const latencies = await connectLatencies(echo.host, echo.port, connections);
  return {
    path,
    throughputMBps: Math.round((megabytes * 1.048576) / seconds),
    connectP50Ms: Number(percentile(latencies, 50).toFixed(2)),
    connectP99Ms: Number(percentile(latencies, 99).toFixed(2)),
  };
}

async function kubectlForward(
  kubeconfig: string,
  target: string,
  remotePort: number,
): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const child = spawn(
    'kubectl',
    ['--kubeconfig', kubeconfig, 'port-forward', '-n', 'tools', target, `${port}:${remotePort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Forwarding from')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`kubectl port-forward exited with ${String(code)}`)));
  });
  return { port, stop: () => child.kill() };
}

const cluster = await startTestCluster({ scenario: 'demo' });
try {
  const pods = resourceTypeOfKind('Pod');
  const podOf = (prefix: string) =>
    cluster.store.list(pods, 'tools').find((p) => p.metadata.name?.startsWith(prefix));
  const bulkPod = podOf('bulk-');
  const echoPod = podOf('echo-');
  const bulkIp = String(field(bulkPod, 'status', 'podIP'));
  const echoIp = String(field(echoPod, 'status', 'podIP'));
  const results: Figures[] = [];
  process.stdout.write(
    `Measuring ${megabytes} MiB downloads and ${connections} sequential connections per path…\n`,
  );
  results.push(await measure('direct to pod', { host: bulkIp, port: 9000 }, { host: echoIp, port: 7007 }));
  for (const [label, env] of [
    ['kubectl port-forward (SPDY in WebSocket)', {}],
    ['kubectl port-forward (raw SPDY)', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
  ] as const) {
    Object.assign(process.env, env);
    const bulk = await kubectlForward(cluster.kubeconfigPath, `pod/${bulkPod?.metadata.name ?? ''}`, 9000);
    const echo = await kubectlForward(cluster.kubeconfigPath, `pod/${echoPod?.metadata.name ?? ''}`, 7007);
    results.push(
      await measure(label, { host: '127.0.0.1', port: bulk.port }, { host: '127.0.0.1', port: echo.port }),
    );
    bulk.stop();
    echo.stop();
    delete process.env.KUBECTL_PORT_FORWARD_WEBSOCKETS;
  }
  console.table(results);
  const directory = join(process.cwd(), 'bench/results');
  mkdirSync(directory, { recursive: true });
  writeFileSync(
    join(directory, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), megabytes, connections, results }, null, 2)}\n`,
  );
} finally {
  await cluster.stop();
}
