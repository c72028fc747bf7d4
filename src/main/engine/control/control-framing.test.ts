/**
 * The control protocol's framing, both sides, over in-memory duplex pairs: what every
 * `localizer` command and the instance rely on, in milliseconds and with no socket. A line may
 * arrive a byte at a time (a multi-byte character cut in two), a request may be too long or in
 * another version, and either side may hang up at any moment.
 */
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { duplexPair } from './duplex-pair';
import type { ListResult } from '../../../shared/control-answers';
import { InstanceRefusedError, toFailure } from '../instance/instance-refusal';
import { exchangeControl, type ControlError } from './control-client';
import { serveControlConnection, type ControlHandler } from './control-server';

const instance = 'the Localizer daemon (pid 4242)';
const emptyList: ListResult = { tunnels: [], health: { state: 'connected', reason: '' }, pid: 4242 };

/** Two ends joined through a relay that passes on one byte at a time, each way. */
function byteByBytePair(): [Duplex, Duplex] {
  const [client, relayNear] = duplexPair();
  const [relayFar, server] = duplexPair();
  const trickle = (from: Duplex, to: Duplex): void => {
    from.on('data', (chunk: Buffer) => {
      for (const byte of chunk) to.write(Buffer.from([byte]));
    });
    from.on('end', () => to.end());
    from.on('close', () => to.destroy());
  };
  trickle(relayNear, relayFar);
  trickle(relayFar, relayNear);
  return [client, server];
}

/** Everything one raw end reads until the other side ends it. */
function readAll(end: Duplex): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    end.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    end.on('end', () => resolve(text));
    end.on('close', () => resolve(text));
  });
}

function rejection(promise: Promise<unknown>): Promise<ControlError> {
  return promise.then(
    () => {
      throw new Error('the request should have been refused');
    },
    (error: unknown) => error as ControlError,
  );
}

describe('the control protocol over a connection', () => {
  it('carries progress, then the answer, a byte at a time, multi-byte characters whole', async () => {
    const [client, server] = byteByBytePair();
    const handler: ControlHandler = (request, channel) => {
      channel.progress('Connecting to ➜ café (context dév)…');
      return Promise.resolve(request.op === 'list' ? emptyList : null);
    };
    serveControlConnection(server, handler, toFailure);
    const progress: string[] = [];
    const answer = await exchangeControl(
      client,
      instance,
      { op: 'list' },
      { onProgress: (m) => progress.push(m) },
    );
    expect(progress).toEqual(['Connecting to ➜ café (context dév)…']);
    expect(answer).toEqual(emptyList);
  });

  it("gives the caller a handler's refusal as its code and message", async () => {
    const [client, server] = duplexPair();
    serveControlConnection(
      server,
      () =>
        Promise.reject(new InstanceRefusedError('No context is connected, so prod cannot be disconnected.')),
      toFailure,
    );
    const error = await rejection(
      exchangeControl(client, instance, { op: 'disconnect', contexts: ['prod'] }),
    );
    expect(error.code).toBe('refused');
    expect(error.message).toBe('No context is connected, so prod cannot be disconnected.');
  });

  it('refuses a request over 64 KiB that never ends its line, saying the limit', async () => {
    const [client, server] = duplexPair();
    serveControlConnection(server, () => Promise.resolve(null), toFailure);
    const answer = readAll(client);
    client.write(Buffer.alloc(65 * 1024, 0x78));
    expect(JSON.parse(await answer)).toMatchObject({ ok: false, code: 'too-large' });
    expect(await answer).toContain('64 KiB');
  });

  it('refuses a request in another protocol version, and one that is not JSON', async () => {
    for (const [line, code] of [
      ['{"v":99,"op":"list"}\n', 'version'],
      ['list please\n', 'bad-request'],
    ] as const) {
      const [client, server] = duplexPair();
      let handled = false;
      serveControlConnection(
        server,
        () => {
          handled = true;
          return Promise.resolve(null);
        },
        toFailure,
      );
      const answer = readAll(client);
      client.write(line);
      expect(JSON.parse(await answer), line).toMatchObject({ ok: false, code });
      expect(handled, `${line.trim()} reached the handler`).toBe(false);
    }
  });

  it('refuses an answer in another protocol version, naming both versions', async () => {
    const [client, server] = duplexPair();
    server.once('data', () => server.write('{"v":99,"ok":true,"result":{}}\n'));
    const error = await rejection(exchangeControl(client, instance, { op: 'status' }));
    expect(error.code).toBe('version');
    expect(error.message).toContain(`${instance} speaks control protocol 99, and this command speaks 1`);
  });

  it('tells the caller when the instance hangs up before answering, and that work may be half done', async () => {
    const [client, server] = duplexPair();
    server.once('data', () => server.destroy());
    const error = await rejection(exchangeControl(client, instance, { op: 'disconnect', contexts: [] }));
    expect(error.code).toBe('unreachable');
    expect(error.message).toBe(
      `${instance} stopped before it answered; what it was doing may be half done: check with \`localizer list\`.`,
    );
  });

  it('sends watch events until the caller hangs up, and then tells the handler', async () => {
    const [client, server] = duplexPair();
    let callerGone = false;
    serveControlConnection(
      server,
      async (_request, channel) => {
        channel.event(emptyList);
        await channel.hungUp;
        callerGone = true;
        return { message: 'watch ended' };
      },
      toFailure,
    );
    const stop = new AbortController();
    const events: ListResult[] = [];
    const watching = exchangeControl(
      client,
      instance,
      { op: 'watch' },
      {
        signal: stop.signal,
        onEvent: (list) => {
          events.push(list);
          stop.abort();
        },
      },
    );
    const error = await rejection(watching);
    expect(error.message).toBe('The request was abandoned.');
    expect(events).toEqual([emptyList]);
    await expect
      .poll(() => callerGone, { timeout: 2000, message: 'the handler should see the caller hang up' })
      .toBe(true);
  });
});
