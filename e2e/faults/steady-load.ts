/**
 * The fault suite's load generator: an HTTP call through a forward every 100 ms, each on a new
 * connection (as a program's first call after a restart would be), every outcome kept with its
 * time, so a case can count the failures a user would have seen after a given moment.
 */
import { request } from 'node:http';

export interface CallOutcome {
  /** When the call started (ms since epoch). */
  at: number;
  /** How long it took to answer or fail. */
  ms: number;
  ok: boolean;
  /** The pod that answered, from the test image's JSON. */
  pod?: string;
  error?: string;
}

export interface SteadyLoad {
  outcomes: CallOutcome[];
  /** Calls that failed and started at or after `since`. */
  failuresSince(since: number): CallOutcome[];
  /** The first successful call at or after `since`, answered by `pod` if given. */
  firstSuccessSince(since: number, pod?: string): CallOutcome | undefined;
  stop(): Promise<void>;
}

function callOnce(host: string, port: number, timeoutMs: number): Promise<CallOutcome> {
  const at = Date.now();
  return new Promise((resolve) => {
    const finish = (outcome: Omit<CallOutcome, 'at' | 'ms'>): void =>
      resolve({ at, ms: Date.now() - at, ...outcome });
    const call = request({ host, port, path: '/', agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          const { pod } = JSON.parse(body) as { pod?: string };
          finish(
            response.statusCode === 200
              ? { ok: true, ...(pod ? { pod } : {}) }
              : { ok: false, error: `HTTP ${String(response.statusCode)}` },
          );
        } catch {
          finish({ ok: false, error: `unreadable answer: ${JSON.stringify(body.slice(0, 80))}` });
        }
      });
      response.on('error', (error) => finish({ ok: false, error: error.message }));
    });
    call.on('timeout', () => call.destroy(new Error(`no answer within ${String(timeoutMs)} ms`)));
    call.on('error', (error: NodeJS.ErrnoException) =>
      finish({ ok: false, error: error.code ?? error.message }),
    );
    call.end();
  });
}

/** Starts calling `host:port` every `intervalMs` (100 ms) until stopped; at most 10 minutes. */
export function startSteadyLoad(host: string, port: number, intervalMs = 100): SteadyLoad {
  const outcomes: CallOutcome[] = [];
  const pending = new Set<Promise<void>>();
  const stopAt = Date.now() + 10 * 60_000;
  const timer = setInterval(() => {
    if (Date.now() > stopAt) {
      clearInterval(timer);
      return;
    }
    const call = callOnce(host, port, 3000).then((outcome) => {
      outcomes.push(outcome);
      pending.delete(call);
    });
    pending.add(call);
  }, intervalMs);
  return {
    outcomes,
    failuresSince: (since) => outcomes.filter((o) => !o.ok && o.at >= since),
    firstSuccessSince: (since, pod) =>
      outcomes
        .filter((o) => o.ok && o.at >= since && (pod === undefined || o.pod === pod))
        .sort((a, b) => a.at - b.at)[0],
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}
