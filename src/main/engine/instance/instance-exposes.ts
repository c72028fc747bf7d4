/**
 * The instance's exposes: which context an expose, unexpose or cleanup is for, the cleanup after
 * earlier runs before each expose, and what a user is told of it (progress lines, the window's
 * cleanup notice, an expose that ended by itself).
 */
import type { CleanupNotice, ExposeEndedNotice } from '../../../shared/app-state';
import type { KubeSource } from '../../../shared/control-protocol';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import { ExposeManager, type ExposeManagerOptions } from '../expose/expose-manager';
import type { CleanupReport } from '../expose/leftovers';
import type { SshImage } from '../expose/ssh-image';
import type { KubeContext } from '../kube/kube-context';
import type { Connections } from './connections';
import type { ContextClients } from './context-clients';
import { recoverEarlierRuns } from './earlier-runs';
import { InstanceRefusedError } from './instance-refusal';
import type { ExposeInstanceRequest } from './instance-requests';
import { forwardFollowTimeoutMs, untilForwardFollows } from './forward-follows-expose';
import { silent, type InstanceLog, type Progress } from './instance-output';

export interface InstanceExposesOptions {
  stateDirectory: string;
  /** Exposes' timing, for tests. */
  timing?: Pick<ExposeManagerOptions, 'keepaliveIntervalMs' | 'startTimeoutMs' | 'restoreTimeoutMs'>;
  connections: Connections;
  clients: ContextClients;
  /** The SSH image for requests that name none. */
  sshImage: () => SshImage;
  isClosing: () => boolean;
  /** Closes the dialers nothing uses any more, after an expose ends. */
  releaseDialers: () => void;
  onChange: () => void;
  onCleanup: (notice: CleanupNotice) => void;
  onEnded: (notice: ExposeEndedNotice) => void;
  log: InstanceLog;
}

export class InstanceExposes {
  readonly manager: ExposeManager;
  private cleanups = 0;
  private endedExposes = 0;

  constructor(private readonly options: InstanceExposesOptions) {
    const { connections } = options;
    this.manager = new ExposeManager({
      stateDirectory: options.stateDirectory,
      ...options.timing,
      // A connect's relay pods are this instance's own: cleanup leaves them alone.
      otherLiveSessions: () =>
        [...connections.values()].flatMap((c) => (c.engine.relaySession ? [c.engine.relaySession] : [])),
      clients: {
        apisFor: (context) => options.clients.apisFor(context),
        dialerFor: (context) => options.clients.for(context).dialer,
      },
    });
    this.manager.on('status', options.onChange);
    this.manager.on('ended', (expose, reason) => {
      options.log(`The expose of ${expose.namespace}/${expose.name} ended by itself. ${reason}`);
      options.releaseDialers();
      options.onEnded({
        id: ++this.endedExposes,
        context: expose.context,
        namespace: expose.namespace,
        service: expose.name,
        reason,
      });
      options.onChange();
    });
  }

  /** Starts an expose (cleaning up after earlier runs in its context first); resolves once it runs. */
  async expose(request: ExposeInstanceRequest, progress: Progress = silent): Promise<TunnelStatus> {
    if (this.options.isClosing())
      throw new InstanceRefusedError('Localizer is stopping; expose again once it has.');
    const context = this.options.connections.contextFor(request.source, request.context);
    this.reportCleanup(context.name, await this.manager.recover(context), progress);
    // Closed while it recovered (a Ctrl-C, Quit): the close has stopped every expose it knew of,
    // so this one must not start after it and outlive the instance.
    if (this.options.isClosing())
      throw new InstanceRefusedError('Localizer is stopping; expose again once it has.');
    const image = request.image ?? this.options.sshImage();
    let running: TunnelStatus;
    try {
      running = await this.manager.expose(
        context,
        {
          namespace: request.namespace,
          service: request.service,
          mappings: request.mappings,
          image,
          ...(request.mode ? { mode: request.mode } : {}),
          ...(request.header ? { header: request.header } : {}),
        },
        progress,
      );
    } catch (error) {
      this.options.releaseDialers();
      throw error;
    }
    await this.untilOwnForwardFollows(context, request.namespace, request.service, progress);
    return running;
  }

  /**
   * This instance's forward of the Service (when it is connected to that cluster) follows the
   * expose before it is announced; one that stays behind is said to the asker and in the log.
   */
  private async untilOwnForwardFollows(
    context: KubeContext,
    namespace: string,
    service: string,
    progress: Progress,
  ): Promise<void> {
    const connection = this.options.connections.get(context.name);
    if (connection?.context.server !== context.server) return;
    const outcome = await untilForwardFollows({
      engine: connection.engine,
      discovery: this.options.clients.apisFor(context).discovery,
      namespace,
      service,
    });
    if (outcome !== 'behind') return;
    const line = `This Localizer's forward of ${namespace}/${service} still sends new connections to the pods it knew ${String(forwardFollowTimeoutMs / 1000)} s after the expose was running: its watch of the cluster is behind. It follows once the watch catches up; connections made until then reach those pods, not this laptop.`;
    progress(line);
    this.options.log(line, progress !== silent);
  }

  /** Stops the expose of `namespace/service`; resolves with a notice when its workloads were slow. */
  async unexpose(target: { context?: string; namespace: string; service: string }): Promise<string | null> {
    const matches = this.manager
      .exposed()
      .filter(
        (e) =>
          e.namespace === target.namespace &&
          e.service === target.service &&
          (!target.context || e.context === target.context),
      );
    const match = matches[0];
    if (!match)
      throw new InstanceRefusedError(
        `${target.namespace}/${target.service} is not exposed by this Localizer (\`localizer list\` shows what is).`,
      );
    if (matches.length > 1)
      throw new InstanceRefusedError(
        `${target.namespace}/${target.service} is exposed in ${matches.map((m) => m.context).join(' and ')}: pick one with --context.`,
      );
    const stopped = await this.manager.unexpose(match.context, match.namespace, match.service);
    this.options.releaseDialers();
    return stopped?.notice ?? null;
  }

  /** `localizer cleanup`: undoes what crashed exposes left in a context, never this instance's own. */
  async cleanup(request: {
    source?: KubeSource;
    context?: string;
    force: boolean;
  }): Promise<CleanupReport & { context: string }> {
    const context = this.options.connections.contextFor(request.source, request.context);
    const report = await this.manager.recover(context, request.force);
    this.reportCleanup(context.name, report, silent);
    return { context: context.name, ...report };
  }

  /**
   * Undoes what exposes of earlier runs (killed, crashed) left, in each context their records
   * name. Without a record it asks the cluster nothing; the next expose in a context also cleans
   * up there, for leftovers whose record was lost.
   */
  async recoverEarlierRuns(): Promise<CleanupNotice[]> {
    const reports = await recoverEarlierRuns({
      stateDirectory: this.options.stateDirectory,
      loadContext: (name) => this.options.connections.load(undefined, name),
      recover: (context) => this.manager.recover(context),
    });
    return reports.flatMap(({ context, report }) => this.reportCleanup(context, report, silent) ?? []);
  }

  private reportCleanup(
    context: string,
    report: CleanupReport,
    progress: Progress,
  ): CleanupNotice | undefined {
    for (const line of report.done) progress(`Cleanup: ${line}.`);
    for (const line of report.skipped) progress(`Left alone: ${line}.`);
    for (const line of report.failed) progress(`Cleanup failed: ${line}. Run \`localizer cleanup\` again.`);
    if (report.done.length + report.failed.length === 0) return undefined;
    const notice: CleanupNotice = { id: ++this.cleanups, context, ...report };
    this.options.onCleanup(notice);
    return notice;
  }
}
