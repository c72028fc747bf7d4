/**
 * Carries one local connection to a pod, moving it to another ready pod when the first cannot
 * take it: a pod that just died, was replaced under the same name, or is not listening yet. The
 * caller only sees a failure when no ready pod can take the connection.
 *
 * A port-forward stream opens before the kubelet has dialled the pod; a failure to dial arrives
 * afterwards, on the error stream. Until the pod's first byte arrives, what the caller sent is
 * kept, so the connection can be replayed to the next pod as if nothing happened. Once the pod
 * has answered (or more than `replayLimitBytes` were sent), the connection is that pod's.
 *
 * It is a TCP connection end to end: a caller that half-closes (`nc -N`, `shutdown(SHUT_WR)`)
 * ends our side of the stream and still gets everything the pod sends until it closes, and a
 * reset on either side is a reset on the other, so a cut answer never looks complete.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { PodDialer, PodTarget } from '../kube/pod-dialer';
import { StreamNotTakenError } from '../kube/spdy/spdy-stream';

export interface PodConnectionAttempt {
  target: PodTarget;
  port: number;
}

export interface PodConnectionEvents {
  /** The connection is carried by `attempt` from now on. */
  onCarried: (attempt: PodConnectionAttempt, stream: Duplex) => void;
  /** `attempt` failed with `error`; `retrying` says whether another pod is tried next. */
  onAttemptFailed: (attempt: PodConnectionAttempt, error: Error, retrying: boolean) => void;
  /** Bytes the caller sent and the pod answered, as they pass. */
  onBytes: (direction: 'out' | 'in', count: number) => void;
}

export interface PodConnectionOptions extends PodConnectionEvents {
  socket: Socket;
  dialer: PodDialer;
  /** The pods to try, in order; each at most once. */
  attempts: readonly PodConnectionAttempt[];
  /** How long the connection may spend finding a pod (10 s). */
  deadlineMs?: number;
  /** How much of what the caller sends is kept for a replay (256 KiB). */
  replayLimitBytes?: number;
}

const defaultDeadlineMs = 10_000;
const defaultReplayLimitBytes = 256 * 1024;
/**
 * How often one connection may be opened again on a fresh session to the same pod, because the
 * session it was on went quiet before the kubelet took it.
 */
const maxMovesPerConnection = 2;

/** Starts carrying `socket` (paused on connect) to the first pod of `attempts` that takes it. */
export function carryToPod(options: PodConnectionOptions): void {
  const { socket, dialer } = options;
  const deadline = Date.now() + (options.deadlineMs ?? defaultDeadlineMs);
  const replayLimit = options.replayLimitBytes ?? defaultReplayLimitBytes;
  /** What the caller sent while no pod has answered yet; undefined once it cannot be replayed. */
  let sent: Buffer[] | undefined = [];
  let sentBytes = 0;
  let callerEnded = false;
  let current: Duplex | undefined;
  let committed = false;
  let index = 0;
  let moves = 0;

  /** Nothing can carry the connection, or the pod's side was reset: the caller is reset too. */
  const resetCaller = (): void => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  socket.on('data', (chunk: Buffer) => {
    options.onBytes('out', chunk.length);
    if (sent) {
      sentBytes += chunk.length;
      if (sentBytes > replayLimit) sent = undefined;
      else sent.push(chunk);
    }
    if (current && !current.write(chunk)) socket.pause();
  });
  socket.on('end', () => {
    callerEnded = true;
    current?.end();
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    // The caller is gone: nothing is answered or retried for it any more, and ending the closed
    // socket again would only make an error (a stack trace per connection).
    const carrying = current;
    current = undefined;
    carrying?.destroy();
  });

  const canRetry = (): boolean => !committed && sent !== undefined && Date.now() < deadline;

  const failed = (attempt: PodConnectionAttempt, error: Error): void => {
    // A session that went quiet before taking the stream: the same pod, on a fresh session.
    const move = error instanceof StreamNotTakenError && moves < maxMovesPerConnection;
    const retrying = canRetry() && !socket.destroyed && (move || index < options.attempts.length);
    options.onAttemptFailed(attempt, error, retrying);
    if (!retrying) resetCaller();
    else if (move) {
      moves++;
      tryAttempt(attempt);
    } else tryNext();
  };

  const adopt = (attempt: PodConnectionAttempt, stream: Duplex): void => {
    current = stream;
    options.onCarried(attempt, stream);
    stream.on('data', (chunk: Buffer) => {
      // The pod answered: this connection is its own now, and nothing is replayed any more.
      committed = true;
      sent = undefined;
      options.onBytes('in', chunk.length);
      if (!socket.write(chunk)) stream.pause();
    });
    stream.on('drain', () => socket.resume());
    socket.on('drain', () => {
      if (current === stream) stream.resume();
    });
    stream.on('end', () => {
      if (current === stream) socket.end();
    });
    stream.on('error', (error: Error) => {
      if (current !== stream) return;
      current = undefined;
      stream.destroy();
      failed(attempt, error);
    });
    stream.on('close', () => {
      if (current === stream) socket.end();
    });
    for (const chunk of sent ?? []) stream.write(chunk);
    if (callerEnded) stream.end();
    socket.resume();
  };

  const tryNext = (): void => {
    const attempt = options.attempts[index++];
    if (!attempt) {
      resetCaller();
      return;
    }
    tryAttempt(attempt);
  };

  const tryAttempt = (attempt: PodConnectionAttempt): void => {
    socket.pause();
    dialer.dial(attempt.target, attempt.port).then(
      (stream) => {
        if (socket.destroyed) {
          stream.destroy();
          return;
        }
        adopt(attempt, stream);
      },
      (error: unknown) => failed(attempt, error instanceof Error ? error : new Error(String(error))),
    );
  };

  tryNext();
}

/** How long a probe's stream must stay free of the kubelet's error to count as taken. */
const probeSettleMs = 300;

/**
 * Opens a connection to `attempt` and closes it again, nothing sent: resolves once the pod has
 * taken it, rejects with why not. The kubelet's refusal arrives after the stream opens, so the
 * stream must stay free of errors for a moment first.
 */
export async function probePod(dialer: PodDialer, attempt: PodConnectionAttempt): Promise<void> {
  const stream = await dialer.dial(attempt.target, attempt.port);
  try {
    await new Promise<void>((resolve, reject) => {
      const settled = setTimeout(resolve, probeSettleMs);
      stream.once('error', (error: Error) => {
        clearTimeout(settled);
        reject(error);
      });
    });
  } finally {
    stream.destroy();
  }
}
