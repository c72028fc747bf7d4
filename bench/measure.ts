/** Measurement primitives: a bulk download, sequential new-connection latencies and UDP round trips. */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';

/**
 * Asks a bulk server for `bytes` and returns MB/s, timed to the last byte, as a client that knows
 * the length (Content-Length) does: the pod's close reaches a client through a kubelet up to
 * 1 s later (containerd's copy grace), on every port-forward alike, and is not what is measured.
 */
export function downloadMBps(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let received = 0;
    const socket = connect({ host, port }, () => socket.write(`SEND ${bytes}\n`));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < bytes) return;
      socket.destroy();
      resolve(bytes / 1e6 / (Number(process.hrtime.bigint() - started) / 1e9));
    });
    socket.on('end', () => reject(new Error(`received ${received} of ${bytes} bytes from ${host}:${port}`)));
    socket.on('error', reject);
  });
}

/**
 * Full duplex on one connection: writes `bytes` to an echo server while reading the echo back,
 * as bulk copies with acknowledgements, replication streams and proxies do. MB/s each way.
 */
export function duplexMBps(host: string, port: number, bytes: number): Promise<number> {
  const block = Buffer.alloc(64 * 1024, 0x62);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let sent = 0;
    let received = 0;
    const socket = connect({ host, port });
    const pump = (): void => {
      while (sent < bytes) {
        const chunk = bytes - sent >= block.length ? block : block.subarray(0, bytes - sent);
        sent += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('connect', pump);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < bytes) return;
      socket.destroy();
      resolve(bytes / 1e6 / (Number(process.hrtime.bigint() - started) / 1e9));
    });
    socket.on('end', () => reject(new Error(`echoed ${received} of ${bytes} bytes from ${host}:${port}`)));
    socket.on('error', reject);
  });
}

/** Time to the first echoed byte on a new connection to an echo server, in ms. */
function connectOnce(host: string, port: number): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write('x'));
    socket.once('data', () => {
      socket.destroy();
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
    socket.on('error', reject);
  });
}

/**
 * `count` sequential new connections to each of `targets`, taken in turn (one to each, then
 * the next round), so every target sees the same moments of the machine. Sorted ms, per target.
 */
export async function interleavedLatencies(
  targets: readonly { host: string; port: number }[],
  count: number,
): Promise<number[][]> {
  const samples = targets.map(() => [] as number[]);
  for (let i = 0; i < count; i++) {
    for (const [index, target] of targets.entries())
      samples[index]?.push(await connectOnce(target.host, target.port));
  }
  return samples.map((s) => s.sort((a, b) => a - b));
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}

/**
 * `count` connections at once, each downloading `bytes` from a bulk server: the aggregate MB/s
 * (all bytes over the time until the last finishes) and each connection's time to first byte,
 * sorted, in ms. What a test suite or a browser opening many connections to one service sees.
 */
export async function concurrentDownloads(
  host: string,
  port: number,
  count: number,
  bytes: number,
): Promise<{ aggregateMBps: number; firstByteMs: number[] }> {
  const started = process.hrtime.bigint();
  const firstByteMs: number[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const opened = process.hrtime.bigint();
          let received = 0;
          const socket = connect({ host, port }, () => socket.write(`SEND ${bytes}\n`));
          socket.on('data', (chunk: Buffer) => {
            if (received === 0) firstByteMs.push(Number(process.hrtime.bigint() - opened) / 1e6);
            received += chunk.length;
            if (received < bytes) return;
            socket.destroy();
            resolve();
          });
          // Timed to the last byte, as downloadMBps is.
          socket.on('end', () =>
            reject(new Error(`received ${received} of ${bytes} bytes from ${host}:${port}`)),
          );
          socket.on('error', reject);
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { aggregateMBps: (count * bytes) / 1e6 / seconds, firstByteMs: firstByteMs.sort((a, b) => a - b) };
}

/**
 * Sequential UDP round trips to a server that answers each datagram with itself: each round
 * trip's time in ms, sorted, interleaved over `targets` as `interleavedLatencies` does.
 */
export async function interleavedDatagramRoundTrips(
  targets: readonly { host: string; port: number }[],
  count: number,
): Promise<number[][]> {
  const sockets = await Promise.all(
    targets.map(
      () =>
        new Promise<Socket>((resolve) => {
          const socket = createSocket('udp4');
          socket.bind(0, '127.0.0.1', () => resolve(socket));
        }),
    ),
  );
  const samples = targets.map(() => [] as number[]);
  try {
    for (let i = 0; i < count; i++) {
      for (const [index, target] of targets.entries()) {
        const socket = sockets[index];
        if (!socket) continue;
        const started = performance.now();
        const payload = Buffer.from(`round trip ${String(i)}`);
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no UDP reply from ${target.host}:${String(target.port)} within 5 s`)),
            5_000,
          );
          const onMessage = (reply: Buffer): void => {
            if (!reply.equals(payload)) return;
            clearTimeout(timer);
            socket.off('message', onMessage);
            resolve();
          };
          socket.on('message', onMessage);
          socket.send(payload, target.port, target.host);
        });
        samples[index]?.push(performance.now() - started);
      }
    }
  } finally {
    for (const socket of sockets) socket.close();
  }
  return samples.map((s) => s.sort((a, b) => a - b));
}
