/**
 * HTTP measurement primitives: request latencies on new and kept-alive connections, and a
 * download's throughput. Every response is checked against where its target says it goes, so a
 * row cannot quietly measure another path (a router that sent the call elsewhere, a server that
 * closed the kept-alive connection).
 */
import { Agent, get, type OutgoingHttpHeaders } from 'node:http';

export interface HttpTarget {
  path: string;
  host: string;
  port: number;
  headers?: OutgoingHttpHeaders;
  /** True when a response body came from where this target's label says it goes. */
  answeredBy: (body: string) => boolean;
}

interface Answer {
  ms: number;
  body: string;
  reusedSocket: boolean;
}

/** One GET, timed from the request to the last byte of its body. */
function request(target: HttpTarget, path: string, agent: Agent | false): Promise<Answer> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const call = get(
      { host: target.host, port: target.port, path, headers: target.headers, agent, timeout: 10_000 },
      (response) => {
        let body = '';
        response.setEncoding('latin1');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({
            ms: Number(process.hrtime.bigint() - started) / 1e6,
            body,
            reusedSocket: call.reusedSocket,
          }),
        );
        response.on('error', reject);
      },
    );
    call.on('timeout', () => call.destroy(new Error(`no answer from ${target.path} in 10 s`)));
    call.on('error', reject);
  });
}

/**
 * `count` sequential GETs to each of `targets`, taken in turn (one to each, then the next
 * round) so every target sees the same moments of the machine. `keepAlive`: each target keeps
 * one connection open for all its requests (and it is an error if one is not reused); else each
 * request opens a new connection. Sorted ms, per target.
 */
export async function interleavedHttpLatencies(
  targets: readonly HttpTarget[],
  count: number,
  keepAlive: boolean,
): Promise<number[][]> {
  const agents = targets.map(() => (keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : false));
  const samples = targets.map(() => [] as number[]);
  try {
    for (let i = 0; i < count; i++) {
      for (const [index, target] of targets.entries()) {
        const answer = await request(target, '/bench', agents[index] ?? false);
        if (!target.answeredBy(answer.body))
          throw new Error(
            `${target.path}: a request was answered from elsewhere: ${answer.body.slice(0, 200)}`,
          );
        if (keepAlive && i > 0 && !answer.reusedSocket)
          throw new Error(
            `${target.path}: request ${String(i)} opened a new connection, so it would not measure keep-alive`,
          );
        samples[index]?.push(answer.ms);
      }
    }
  } finally {
    for (const agent of agents) if (agent) agent.destroy();
  }
  return samples.map((s) => s.sort((a, b) => a - b));
}

/** MB/s of `GET /bytes/<bytes>` on a new connection, timed to the last byte. */
export async function httpDownloadMBps(target: HttpTarget, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const received = await new Promise<number>((resolve, reject) => {
    const call = get(
      {
        host: target.host,
        port: target.port,
        path: `/bytes/${String(bytes)}`,
        headers: target.headers,
        agent: false,
      },
      (response) => {
        let length = 0;
        response.on('data', (chunk: Buffer) => (length += chunk.length));
        response.on('end', () => resolve(length));
        response.on('error', reject);
      },
    );
    call.on('error', reject);
  });
  if (received !== bytes)
    throw new Error(`${target.path}: received ${String(received)} of ${String(bytes)} bytes`);
  return bytes / 1e6 / (Number(process.hrtime.bigint() - started) / 1e9);
}
