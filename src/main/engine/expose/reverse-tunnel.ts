/**
 * One SSH connection to the expose's pod, over a pod port-forward, asking sshd to listen on each
 * target port and carrying every connection it accepts to `127.0.0.1:LOCAL` on the laptop. The
 * host key is pinned; keepalives notice a dead tunnel, which ends with `closed`.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ExposedPort } from './port-map';

/** The pod's sshd is not the one Localizer configured (its host key differs). */
export class HostKeyMismatchError extends Error {
  override name = 'HostKeyMismatchError';
}

export interface TunnelCounters {
  connections: number;
  activeConnections: number;
  bytesIn: number;
  bytesOut: number;
}

export interface ReverseTunnelOptions {
  /** The port-forward stream to the pod's sshd. */
  stream: Duplex;
  user: string;
  clientPrivateKey: string;
  /** `ssh-ed25519 AAAA…` as generated for this expose. */
  hostPublicKey: string;
  /** The pod's IP: forwards listen there, where the service sends traffic. */
  listenAddress: string;
  ports: readonly ExposedPort[];
  counters: TunnelCounters;
  keepaliveIntervalMs?: number;
}

/** `SHA256:…`, as OpenSSH prints a key's fingerprint. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function publicKeyBlob(openSshPublicKey: string): Buffer {
  return Buffer.from(openSshPublicKey.trim().split(/\s+/)[1] ?? '', 'base64');
}

export class ReverseTunnel extends EventEmitter<{
  /**
   * A call from the cluster could not reach the laptop: what every local port that refused its
   * last call says, or `null` once each has taken one again.
   */
  localProblem: [string | null];
  closed: [Error | undefined];
}> {
  private readonly client = new ssh2.Client();
  private readonly sockets = new Set<Socket>();
  private closedWith: Error | undefined;
  /** Per local port, why its last call could not be connected; a port is cleared by its next. */
  private readonly localProblems = new Map<number, string>();
  /** What `localProblem` last said; undefined until this tunnel's first call. */
  private reported: string | null | undefined;

  private constructor(private readonly options: ReverseTunnelOptions) {
    super();
  }

  /** Connects, authenticates and binds every forward; rejects with what went wrong. */
  static async open(options: ReverseTunnelOptions): Promise<ReverseTunnel> {
    const tunnel = new ReverseTunnel(options);
    await tunnel.connect();
    return tunnel;
  }

  private connect(): Promise<void> {
    const expected = publicKeyBlob(this.options.hostPublicKey);
    let presented: Buffer | undefined;
    return new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        if (presented && !presented.equals(expected)) {
          reject(
            new HostKeyMismatchError(
              `The SSH pod presented host key ${fingerprint(presented)}, not ${fingerprint(expected)}, the key Localizer made for it. Something else answers on that pod's SSH port, so no traffic was sent. Stop the expose and expose again to recreate the pod.`,
            ),
          );
        } else reject(error);
      };
      let ready = false;
      this.client.on('error', (error) => {
        if (ready) this.closedWith ??= error;
        else {
          this.options.stream.destroy();
          fail(error);
        }
      });
      this.client.once('ready', () => {
        ready = true;
        // The stream is half-open capable, so the pod side ending it is 'end' without 'close'.
        let ended = false;
        const onGone = (): void => {
          if (ended) return;
          ended = true;
          this.close();
          this.emit('closed', this.closedWith);
        };
        this.client.on('end', onGone);
        this.client.on('close', onGone);
        this.client.on('tcp connection', (info, accept, rejectConnection) =>
          this.carry(info.destPort, accept, rejectConnection),
        );
        void this.bindForwards().then(resolve, (error: unknown) => {
          this.close();
          reject(error instanceof Error ? error : new Error(String(error)));
        });
      });
      this.client.connect({
        sock: this.options.stream,
        username: this.options.user,
        privateKey: this.options.clientPrivateKey,
        hostVerifier: (key: Buffer) => {
          presented = key;
          return key.equals(expected);
        },
        keepaliveInterval: this.options.keepaliveIntervalMs ?? 5_000,
        keepaliveCountMax: 3,
        readyTimeout: 20_000,
      });
    });
  }

  private async bindForwards(): Promise<void> {
    for (const port of this.options.ports) {
      await new Promise<void>((resolve, reject) =>
        this.client.forwardIn(this.options.listenAddress, port.targetPort, (error) =>
          error
            ? reject(
                new Error(
                  `sshd in the pod refused to listen on port ${String(port.targetPort)}: ${error.message}`,
                ),
              )
            : resolve(),
        ),
      );
    }
  }

  private carry(
    destPort: number,
    accept: () => ssh2.ServerChannel | ssh2.ClientChannel,
    rejectConnection: () => void,
  ): void {
    const port = this.options.ports.find((p) => p.targetPort === destPort);
    if (!port) {
      rejectConnection();
      return;
    }
    // noDelay: a request-reply call must not wait on Nagle's algorithm at every hop.
    // allowHalfOpen: a laptop server that shuts down its sending side first still gets the rest
    // of the caller's request; Node would otherwise end our side at once.
    const local = connect({ host: '127.0.0.1', port: port.localPort, noDelay: true, allowHalfOpen: true });
    const counters = this.options.counters;
    // Only a connection that could not be made is the laptop's problem; a reset of one that was
    // (a server that hangs up on a request) is that call's business.
    const unreachable = (error: NodeJS.ErrnoException): void => {
      rejectConnection();
      this.noteLocalProblem(
        port.localPort,
        error.code === 'ECONNREFUSED'
          ? `nothing is listening on 127.0.0.1:${String(port.localPort)}`
          : `cannot reach 127.0.0.1:${String(port.localPort)}: ${error.message}`,
      );
    };
    local.once('error', unreachable);
    local.once('connect', () => {
      local.off('error', unreachable);
      this.noteLocalProblem(port.localPort, null);
      const channel = accept();
      counters.connections++;
      counters.activeConnections++;
      this.sockets.add(local);
      channel.on('data', (chunk: Buffer) => (counters.bytesIn += chunk.length));
      local.on('data', (chunk: Buffer) => (counters.bytesOut += chunk.length));
      channel.pipe(local).pipe(channel);
      local.on('error', () => channel.destroy());
      channel.on('error', () => local.destroy());
      // A clean end travels through the pipes, so the channel first sends all it holds.
      local.once('close', (hadError) => {
        counters.activeConnections--;
        this.sockets.delete(local);
        if (hadError) channel.destroy();
      });
      // The caller is gone for good: flush what it sent, then drop what the laptop still has for
      // it. Ending alone would leave a socket whose unread answer never drains (a readiness probe
      // that hangs up on a greeting, every two seconds).
      channel.once('close', () => {
        if (local.destroyed) return;
        if (local.writableFinished) local.destroy();
        else {
          local.once('finish', () => local.destroy());
          local.end();
        }
      });
    });
  }

  private noteLocalProblem(localPort: number, problem: string | null): void {
    if (problem) this.localProblems.set(localPort, problem);
    else this.localProblems.delete(localPort);
    const now = [...this.localProblems.values()].join('; ') || null;
    // A new tunnel (after a reconnect) reports its first call either way: a problem the last
    // tunnel reported may be gone (the developer started their server meanwhile).
    if (now === this.reported) return;
    this.reported = now;
    this.emit('localProblem', now);
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.client.end();
    this.options.stream.destroy();
  }
}
