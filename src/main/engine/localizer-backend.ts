/**
 * What the window, the tray and the browser harness drive: the contexts of the kubeconfig, one
 * connection (the selected context) with its forwards, the exposes, and the settings, folded into
 * one `AppState` that is emitted on every change. Plain Node: the Electron app and the harness
 * both wrap it, so the UI under test runs on the real engine.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { ApiCalls, AppInfo, IpcErrorCode } from '../../shared/api';
import { disconnected, type AppState, type ConnectionStatus } from '../../shared/app-state';
import { failure, ok, type Result } from '../../shared/result';
import { settingsSchema, type Settings } from '../../shared/settings';
import type { TunnelStatus } from '../../shared/tunnel-status';
import { AddressBook } from './connect/address-book';
import { ConnectEngine, ConnectError, type EngineHealth } from './connect/connect-engine';
import { HelperSync } from './connect/helper-sync';
import { ExposeManager } from './expose/expose-manager';
import { isProcessAlive, readRecords } from './expose/expose-records';
import { ExposeRefusedError } from './expose/workload-scaler';
import type { HelperClient } from './helper/helper-client';
import { superviseHelper, type HelperSupervisor } from './helper/helper-supervisor';
import { KubeconfigError, listKubeContexts, loadKubeContext, type KubeContext } from './kube/kube-context';

export interface SettingsStore {
  get(): Settings;
  set(settings: Settings): void;
}

export interface LocalizerBackendOptions {
  appInfo: AppInfo;
  stateDirectory: string;
  settings: SettingsStore;
  /** An explicit kubeconfig; else KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** Starts the privileged helper for names; resolves undefined when names stay off (declined, unavailable). */
  startHelper?: (ipRange: string) => Promise<HelperClient | undefined>;
  log?: (message: string) => void;
}

/** The connection's state as the tray and window show it, from the engine's health and the forwards. */
export function connectionStatus(
  context: string,
  health: EngineHealth,
  tunnels: readonly TunnelStatus[],
  namesEnabled: boolean,
  listed = true,
): ConnectionStatus {
  const forwards = tunnels.filter((t) => t.kind === 'forward' && t.status !== 'skipped');
  const ready = forwards.filter((t) => t.status === 'running').length;
  const troubled = tunnels.filter((t) => t.status === 'failed' || t.status === 'reconnecting');
  let state: ConnectionStatus['state'];
  let reason = health.reason;
  // Until the first full list there is nothing to count: "0 of 0 ready" would be a lie.
  if (health.state === 'connecting' || !listed) state = 'connecting';
  else if (health.state === 'degraded') state = 'degraded';
  else if (troubled.length > 0) {
    state = 'degraded';
    reason ||= `${String(troubled.length)} tunnel${troubled.length === 1 ? '' : 's'} ${troubled.length === 1 ? 'is' : 'are'} reconnecting or failed`;
  } else state = 'connected';
  return {
    state,
    context,
    reason,
    ready,
    total: forwards.length,
    namesEnabled,
    apiReachable: health.state !== 'degraded',
  };
}

export class LocalizerBackend
  extends EventEmitter<{ state: [AppState]; focusTunnel: [{ namespace: string; name: string }] }>
  implements ApiCalls
{
  private state: AppState = {
    contexts: [],
    selectedContext: null,
    kubeconfigProblem: null,
    connection: disconnected,
    tunnels: [],
    exposing: null,
    cleanup: null,
  };
  private cleanups = 0;
  private engine: ConnectEngine | undefined;
  private helpers: HelperSupervisor | undefined;
  private sync: HelperSync | undefined;
  private readonly exposes: ExposeManager;
  private emitTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: LocalizerBackendOptions) {
    super();
    this.exposes = new ExposeManager({ stateDirectory: options.stateDirectory });
    this.exposes.on('status', () => this.refreshTunnels());
    this.loadContexts();
  }

  private loadContexts(): void {
    try {
      const { contexts, current } = listKubeContexts(
        this.options.kubeconfig ? { kubeconfig: this.options.kubeconfig } : {},
      );
      this.state = {
        ...this.state,
        contexts,
        selectedContext: this.state.selectedContext ?? current,
        kubeconfigProblem: null,
      };
    } catch (error) {
      if (!(error instanceof KubeconfigError)) throw error;
      this.state = { ...this.state, contexts: [], kubeconfigProblem: error.message };
    }
  }

  private kubeContext(name: string): KubeContext {
    return loadKubeContext({
      ...(this.options.kubeconfig ? { kubeconfig: this.options.kubeconfig } : {}),
      context: name,
    });
  }

  /** Emits at most every 100 ms: a burst of forward changes redraws the UI once. */
  private emitSoon(): void {
    if (this.emitTimer) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = undefined;
      this.emit('state', this.state);
    }, 100);
  }

  private update(change: Partial<AppState>): void {
    this.state = { ...this.state, ...change };
    this.emitSoon();
  }

  private refreshTunnels(): void {
    const forwards = this.engine?.snapshot() ?? [];
    const tunnels = [...forwards, ...this.exposes.snapshot()];
    const connection =
      this.engine && this.state.connection.context
        ? connectionStatus(
            this.state.connection.context,
            this.engine.health,
            tunnels,
            this.sync !== undefined,
            this.engine.timings.firstListAt !== undefined,
          )
        : this.state.connection;
    this.update({ tunnels, connection });
  }

  snapshot(): AppState {
    return this.state;
  }

  getAppInfo(): Promise<Result<AppInfo, IpcErrorCode>> {
    return Promise.resolve(ok(this.options.appInfo));
  }

  getState(): Promise<Result<AppState, IpcErrorCode>> {
    return Promise.resolve(ok(this.state));
  }

  selectContext(name: string): Promise<Result<AppState, IpcErrorCode>> {
    this.loadContexts();
    if (!this.state.contexts.some((c) => c.name === name)) {
      return Promise.resolve(
        failure('invalid-input', `There is no context "${name}" in the kubeconfig. Pick one of the list.`),
      );
    }
    this.update({ selectedContext: name });
    return Promise.resolve(ok(this.state));
  }

  async connect(): Promise<Result<AppState, IpcErrorCode>> {
    this.loadContexts();
    const name = this.state.selectedContext;
    if (!name) {
      return failure(
        'refused',
        this.state.kubeconfigProblem ?? 'No context is selected. Pick a context in the sidebar first.',
      );
    }
    if (this.engine) {
      if (this.state.connection.context === name) return ok(this.state);
      await this.disconnect();
    }
    const settings = this.options.settings.get();
    let kubeContext: KubeContext;
    try {
      kubeContext = this.kubeContext(name);
    } catch (error) {
      return failure('refused', error instanceof Error ? error.message : String(error));
    }
    this.update({ connection: { ...disconnected, state: 'connecting', context: name } });
    const startHelper = this.options.startHelper;
    const helper = await startHelper?.(settings.ipRange);
    this.sync = helper ? new HelperSync(helper, (message) => this.options.log?.(message)) : undefined;
    // A helper that dies is replaced (asking for permission again), so its names never outlive
    // the connection.
    this.helpers =
      helper && this.sync && startHelper
        ? superviseHelper({
            first: helper,
            sync: this.sync,
            start: () => startHelper(settings.ipRange),
            shouldRelaunch: () => this.engine !== undefined,
            say: (message) => this.options.log?.(message),
          })
        : undefined;
    const engine = new ConnectEngine({
      kubeContext,
      stateDirectory: this.options.stateDirectory,
      ipRange: settings.ipRange,
      clusterDomain: settings.clusterDomain,
      namespaces: settings.namespaces,
      excludeNamespaces: settings.excludeNamespaces,
      sync: this.sync,
      addresses: new AddressBook(settings.ipRange, join(this.options.stateDirectory, 'addresses.json')),
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    this.engine = engine;
    engine.on('status', () => this.refreshTunnels());
    engine.on('health', () => this.refreshTunnels());
    try {
      await engine.start();
    } catch (error) {
      await this.teardown();
      const message = error instanceof Error ? error.message : String(error);
      this.update({ connection: { ...disconnected, state: 'error', context: name, reason: message } });
      return failure(error instanceof ConnectError ? 'refused' : 'internal', message);
    }
    this.refreshTunnels();
    return ok(this.state);
  }

  private async teardown(): Promise<string[]> {
    const { failures, notices } = await this.exposes.stopAll();
    for (const notice of notices) this.options.log?.(`stopped the expose ${notice}`);
    await this.engine?.stop();
    this.engine = undefined;
    await this.sync?.clear();
    this.sync = undefined;
    this.helpers?.close();
    this.helpers = undefined;
    return failures;
  }

  async disconnect(): Promise<Result<AppState, IpcErrorCode>> {
    const failures = await this.teardown();
    this.update({
      connection: failures.length
        ? {
            ...disconnected,
            state: 'error',
            reason: `Could not undo: ${failures.join('; ')}. Run \`localizer cleanup\`.`,
          }
        : disconnected,
      tunnels: [],
    });
    return ok(this.state);
  }

  async expose(request: Parameters<ApiCalls['expose']>[0]): Promise<Result<TunnelStatus, IpcErrorCode>> {
    const name = this.state.connection.context ?? this.state.selectedContext;
    if (!name) return failure('refused', 'No context is selected. Pick a context first.');
    const target = { namespace: request.namespace, service: request.service };
    try {
      const context = this.kubeContext(name);
      this.update({ exposing: { ...target, message: 'cleaning up after earlier exposes' } });
      await this.cleanUpAfter(context);
      const settings = this.options.settings.get();
      const [user = '', uid = ''] = settings.sshUser.split(':');
      const image = { image: settings.sshImage, user, uid: Number(uid) };
      const status = await this.exposes.expose(
        context,
        { ...target, mappings: request.mappings, image },
        (message) => this.update({ exposing: { ...target, message } }),
      );
      return ok(status);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const expected = error instanceof ExposeRefusedError || error instanceof KubeconfigError;
      return failure(expected ? 'refused' : 'internal', message);
    } finally {
      this.update({ exposing: null });
      this.refreshTunnels();
    }
  }

  async stopExpose(target: { namespace: string; name: string }): Promise<Result<AppState, IpcErrorCode>> {
    const match = this.exposes
      .exposed()
      .find((e) => e.namespace === target.namespace && e.service === target.name);
    if (!match) return failure('refused', `${target.namespace}/${target.name} is not exposed.`);
    try {
      const stopped = await this.exposes.unexpose(match.context, match.namespace, match.service);
      if (stopped?.notice)
        this.options.log?.(
          `stopped the expose of ${match.namespace}/${match.service}, but ${stopped.notice}`,
        );
    } catch (error) {
      return failure('internal', error instanceof Error ? error.message : String(error));
    }
    this.refreshTunnels();
    return ok(this.state);
  }

  getSettings(): Promise<Result<Settings, IpcErrorCode>> {
    return Promise.resolve(ok(this.options.settings.get()));
  }

  updateSettings(settings: Settings): Promise<Result<Settings, IpcErrorCode>> {
    const parsed = settingsSchema.safeParse(settings);
    if (!parsed.success) {
      return Promise.resolve(
        failure(
          'invalid-input',
          parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        ),
      );
    }
    this.options.settings.set(parsed.data);
    return Promise.resolve(ok(parsed.data));
  }

  /**
   * Undoes what exposes of an earlier run (killed, crashed) left, in each context their records
   * name, and says what it did in `cleanup`. Without a record it asks the cluster nothing; the
   * next expose in a context also cleans up there, for leftovers whose record was lost.
   */
  async cleanUpEarlierRuns(): Promise<void> {
    const orphaned = readRecords(this.options.stateDirectory).filter((r) => !isProcessAlive(r.pid));
    for (const name of new Set(orphaned.map((r) => r.context))) {
      try {
        await this.cleanUpAfter(this.kubeContext(name));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.update({
          cleanup: {
            id: ++this.cleanups,
            context: name,
            done: [],
            skipped: [],
            failed: [`${message} Run \`localizer cleanup --context ${name}\` once the cluster answers.`],
          },
        });
      }
    }
  }

  private async cleanUpAfter(context: KubeContext): Promise<void> {
    const { done, failed, skipped } = await this.exposes.recover(context);
    if (done.length + failed.length > 0)
      this.update({ cleanup: { id: ++this.cleanups, context: context.name, done, failed, skipped } });
  }

  /** A notification was clicked: the window shows that tunnel. */
  focusTunnel(target: { namespace: string; name: string }): void {
    this.emit('focusTunnel', target);
  }

  /** Quit: restores every exposed workload and removes every name. */
  async dispose(): Promise<string[]> {
    clearTimeout(this.emitTimer);
    return this.teardown();
  }
}
