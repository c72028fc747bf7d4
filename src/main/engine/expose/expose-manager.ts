/**
 * Every expose of this process, across contexts: starting and stopping them, cleaning up what a
 * crashed run left, and one status list in the shared tunnel model.
 */
import { EventEmitter } from 'node:events';
import { hostname, userInfo } from 'node:os';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { KubeContext } from '../kube/kube-context';
import type { PodDialer } from '../kube/pod-dialer';
import type { ExposeRequest } from './expose-request';
import { ExposeSession, type SessionApis } from './expose-session';
import { cleanUpLeftovers, type CleanupReport } from './leftovers';
import { defaultSshImage, type SshImage } from './ssh-image';
import { ExposeRefusedError } from './expose-refused-error';

/**
 * `user@host`: how an expose names its owner on what it changes, and whose leftovers a cleanup
 * may undo without `--force`. LOCALIZER_OWNER replaces it where the account is shared (a dev
 * container whose user is the same for everyone, a CI runner).
 */
export function defaultOwner(): string {
  const given = process.env.LOCALIZER_OWNER?.trim();
  if (given && /^[\x21-\x7e]{1,128}$/.test(given)) return given;
  return `${userInfo().username}@${hostname()}`;
}

export interface ExposeManagerOptions {
  stateDirectory: string;
  owner?: string;
  image?: SshImage;
  /** ssh2 keepalive interval; three missed replies end the tunnel. */
  keepaliveIntervalMs?: number;
  startTimeoutMs?: number;
  /** How long a stop keeps the tunnel serving while the restored pods become ready. */
  restoreTimeoutMs?: number;
  /** Sessions of this process that are not exposes (connect's relay pods), which cleanup leaves alone. */
  otherLiveSessions?: () => Iterable<string>;
  /** Each context's API clients and dialer, shared with its connect; the instance owns them. */
  clients: {
    /** API clients: the context's own, or fresh ones (a cleanup needs no dialer). */
    apisFor: (context: KubeContext) => SessionApis;
    dialerFor: (context: KubeContext) => PodDialer;
  };
}

/** What stopping every expose left to say. */
export interface StopReport {
  /** `context/ns/svc: why`, for each expose that could not be undone. */
  failures: string[];
  /** Undone, but the restored workloads were not ready in time. */
  notices: string[];
}

export class ExposeManager extends EventEmitter<{
  status: [TunnelStatus[]];
  /** An expose ended by itself (its takeover was undone by someone else), and why. */
  ended: [expose: TunnelStatus, reason: string];
}> {
  private readonly sessions = new Map<string, ExposeSession>();
  /** Each expose's context (its API server, and the kubeconfig it acts with), by the same key. */
  private readonly contexts = new Map<string, KubeContext>();
  readonly owner: string;

  constructor(private readonly options: ExposeManagerOptions) {
    super();
    this.owner = options.owner ?? defaultOwner();
  }

  private apisFor(context: KubeContext): SessionApis {
    return this.options.clients.apisFor(context);
  }

  /** Asked for each time: its owner may have replaced it. */
  private dialerFor(context: KubeContext): PodDialer {
    return this.options.clients.dialerFor(context);
  }

  /** Undoes what exposes of crashed runs left in this context; what was done is in the report. */
  recover(context: KubeContext, force = false): Promise<CleanupReport> {
    return cleanUpLeftovers(this.apisFor(context), {
      owner: this.owner,
      stateDirectory: this.options.stateDirectory,
      liveSessions: new Set([
        ...[...this.sessions.values()].map((s) => s.session),
        ...(this.options.otherLiveSessions?.() ?? []),
      ]),
      force,
      fallbackNamespaces: [context.namespace],
    });
  }

  /**
   * Starts an expose and resolves once traffic reaches this machine. `onProgress` hears each
   * step while it starts. Rejects with the reason (everything undone) when it cannot.
   */
  async expose(
    context: KubeContext,
    request: ExposeRequest,
    onProgress: (message: string) => void = () => undefined,
  ): Promise<TunnelStatus> {
    const key = `${context.name}/${request.namespace}/${request.service}`;
    if (this.sessions.has(key)) {
      throw new ExposeRefusedError(
        `${request.namespace}/${request.service} is already exposed by this Localizer. Stop it first (\`localizer expose ${request.namespace}/${request.service} --stop\`).`,
      );
    }
    const session = new ExposeSession({
      context: context.name,
      kubeconfigFiles: context.files,
      // The dialer first: it makes the context's clients, whose API clients are then the kept ones.
      dialer: this.dialerFor(context),
      apis: this.apisFor(context),
      stateDirectory: this.options.stateDirectory,
      owner: this.owner,
      image: this.options.image ?? defaultSshImage,
      request,
      ...(this.options.keepaliveIntervalMs ? { keepaliveIntervalMs: this.options.keepaliveIntervalMs } : {}),
      ...(this.options.startTimeoutMs ? { startTimeoutMs: this.options.startTimeoutMs } : {}),
      ...(this.options.restoreTimeoutMs ? { restoreTimeoutMs: this.options.restoreTimeoutMs } : {}),
    });
    this.sessions.set(key, session);
    this.contexts.set(key, context);
    session.once('ended', (reason) => {
      if (this.sessions.get(key) === session) {
        this.sessions.delete(key);
        this.contexts.delete(key);
      }
      this.emit('status', this.snapshot());
      this.emit('ended', session.snapshot(), reason);
    });
    let lastProgress = '';
    session.on('status', () => {
      const status = session.snapshot();
      if (status.status === 'starting' && status.reason !== lastProgress) {
        lastProgress = status.reason;
        onProgress(status.reason);
      }
      this.emit('status', this.snapshot());
    });
    try {
      await session.start();
    } catch (error) {
      {
        this.sessions.delete(key);
        this.contexts.delete(key);
      }
      this.emit('status', this.snapshot());
      throw error;
    }
    return session.snapshot();
  }

  /**
   * Stops one expose. Resolves `undefined` when this process has none for that service, else
   * with a notice (or null) saying the restored workloads were not ready in time.
   */
  async unexpose(
    context: string,
    namespace: string,
    service: string,
  ): Promise<{ notice: string | null } | undefined> {
    const key = `${context}/${namespace}/${service}`;
    const session = this.sessions.get(key);
    if (!session) return undefined;
    try {
      return { notice: await session.stop() };
    } finally {
      {
        this.sessions.delete(key);
        this.contexts.delete(key);
      }
      this.emit('status', this.snapshot());
    }
  }

  /** The contexts exposes run in now, each with the kubeconfig it acts with: their clients stay. */
  contextsInUse(): KubeContext[] {
    return [...this.contexts.values()];
  }

  /** The contexts (and their API servers) and services exposed now, to find one by service alone. */
  exposed(): { context: string; server: string; namespace: string; service: string }[] {
    return [...this.sessions.entries()].map(([key, s]) => {
      const status = s.snapshot();
      return {
        context: status.context,
        server: this.contexts.get(key)?.server ?? '',
        namespace: status.namespace,
        service: status.name,
      };
    });
  }

  /**
   * Stops every expose, or those `which` picks (each restores its workloads); errors are
   * collected, not thrown early.
   */
  async stopAll(which?: (expose: { context: string }) => boolean): Promise<StopReport> {
    const report: StopReport = { failures: [], notices: [] };
    const chosen = [...this.sessions.entries()].filter(
      ([, session]) => !which || which({ context: session.snapshot().context }),
    );
    await Promise.all(
      chosen.map(([key, session]) =>
        session
          .stop()
          .finally(() => {
            this.sessions.delete(key);
            this.contexts.delete(key);
          })
          .then(
            (notice) => {
              if (notice) report.notices.push(`${session.id}: ${notice}`);
            },
            (error: unknown) => {
              report.failures.push(
                `${session.id}: ${error instanceof Error ? error.message : String(error)}`,
              );
            },
          ),
      ),
    );
    this.emit('status', this.snapshot());
    return report;
  }

  snapshot(): TunnelStatus[] {
    return [...this.sessions.values()].map((s) => s.snapshot());
  }
}
