/**
 * The engine's client for the privileged helper: one connection, requests matched to responses
 * by id, each with a deadline. Failures come back as `HelperError` with the helper's own message.
 */
import { connect, type Socket } from 'node:net';
import {
  helperProtocolVersion,
  type HelloResult,
  type HostsEntry,
  type HelperErrorCode,
  type HelperRequest,
  type HelperResponse,
} from '../../../shared/helper-protocol';

/** A request the helper refused or failed, or a connection that broke. */
export class HelperError extends Error {
  override name = 'HelperError';
  constructor(
    readonly code: HelperErrorCode | 'disconnected' | 'timeout',
    message: string,
  ) {
    super(message);
  }
}

type Body = HelperRequest extends infer R ? (R extends HelperRequest ? Omit<R, 'id'> : never) : never;

export interface HelperClient {
  readonly hello: HelloResult;
  setHosts(entries: readonly HostsEntry[]): Promise<void>;
  setRelays(
    relays: readonly { ip: string; port: number; targetPort: number; protocol?: 'tcp' | 'udp' }[],
  ): Promise<void>;
  addAlias(ip: string): Promise<void>;
  removeAlias(ip: string): Promise<void>;
  cleanup(): Promise<void>;
  close(): void;
  /** Called once if the connection ends without `close()`: the helper died or was killed. */
  onDisconnect(listener: (reason: string) => void): void;
}

/** Connects and authenticates. Rejects with a `HelperError` that says what to do. */
export async function connectHelper(options: {
  socketPath: string;
  token: string;
  timeoutMs?: number;
}): Promise<HelperClient> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const socket: Socket = await new Promise((resolve, reject) => {
    const attempt = connect(options.socketPath);
    attempt.once('connect', () => resolve(attempt));
    attempt.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new HelperError(
          'disconnected',
          `Cannot reach the privileged helper at ${options.socketPath} (${error.code ?? error.message}).`,
        ),
      ),
    );
  });
  const pending = new Map<
    number,
    { resolve: (r: HelperResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  let nextId = 1;
  let buffered = '';
  let closedByUs = false;
  const disconnectListeners: ((reason: string) => void)[] = [];

  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const response = JSON.parse(buffered.slice(0, newline)) as HelperResponse;
      buffered = buffered.slice(newline + 1);
      const waiter = response.id === null ? undefined : pending.get(response.id);
      if (!waiter || response.id === null) continue;
      pending.delete(response.id);
      clearTimeout(waiter.timer);
      waiter.resolve(response);
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    for (const waiter of pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new HelperError('disconnected', 'The privileged helper went away before answering.'));
    }
    pending.clear();
    if (!closedByUs)
      for (const listener of disconnectListeners) listener('the privileged helper closed the connection');
  });

  const send = (body: Body): Promise<HelperResponse> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(
          new HelperError(
            'timeout',
            `The privileged helper did not answer ${body.op} within ${timeoutMs} ms.`,
          ),
        );
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      socket.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  };
  const call = async (body: Body): Promise<HelperResponse & { ok: true }> => {
    const response = await send(body);
    if (!response.ok) throw new HelperError(response.code, response.message);
    return response;
  };

  const hello = await call({ op: 'hello', version: helperProtocolVersion, token: options.token }).catch(
    (error: unknown) => {
      socket.destroy();
      throw error;
    },
  );
  return {
    hello: hello.result as HelloResult,
    setHosts: async (entries) => {
      await call({ op: 'hosts.set', entries: entries.map((e) => ({ ip: e.ip, names: [...e.names] })) });
    },
    setRelays: async (relays) => {
      await call({ op: 'relays.set', relays: [...relays] });
    },
    addAlias: async (ip) => {
      await call({ op: 'alias.add', ip });
    },
    removeAlias: async (ip) => {
      await call({ op: 'alias.remove', ip });
    },
    cleanup: async () => {
      await call({ op: 'cleanup' });
    },
    close: () => {
      closedByUs = true;
      socket.end();
    },
    onDisconnect: (listener) => disconnectListeners.push(listener),
  };
}
