/**
 * What the window, the tray and the browser harness drive: the `LocalizerApi` over the one
 * Localizer instance. It adds only what a window needs on top: the kubeconfig's contexts and
 * the one selected, the expose under way, and the last cleanup, folded into one `AppState`
 * emitted on every change. Plain Node: the Electron app and the harness both wrap it, so the UI
 * under test runs on the real engine.
 */
import { EventEmitter } from 'node:events';
import type {
  ApiCalls,
  AppInfo,
  EnvironmentText,
  IpcErrorCode,
  ProjectView,
  TunnelTarget,
} from '../../shared/api';
import type { EnvironmentAnswer } from '../../shared/control-answers';
import { environmentNotes, formatEnvironment } from './environment/environment-format';
import { disconnected, type AppState, type ConnectionStatus } from '../../shared/app-state';
import { failure, ok, type Result } from '../../shared/result';
import { settingsSchema, type Settings } from '../../shared/settings';
import type { TunnelStatus } from '../../shared/tunnel-status';
import { toFailure } from './instance/instance-refusal';
import type { LocalizerInstance } from './instance/localizer-instance';
import { listKubeContexts } from './kube/kube-context';
import { KubeconfigError } from './kube/kubeconfig-error';
import { projectFailureCode, WindowProjects } from './project/window-projects';
import { currentFrom } from './project/project-plan';

export interface SettingsStore {
  get(): Settings;
  set(settings: Settings): void;
}

export interface LocalizerBackendOptions {
  instance: LocalizerInstance;
  appInfo: AppInfo;
  settings: SettingsStore;
  /** An explicit kubeconfig; else KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** Opens a terminal whose shell has `env`; undefined where there is none to open (the browser preview). */
  openTerminal?: (env: Record<string, string>, title: string) => Promise<void>;
}

/** A refusal or an internal error, as the window shows it. */
function failureOf(error: unknown): Result<never, 'refused' | 'internal'> {
  const { code, message } = toFailure(error);
  return failure(code, message);
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
    exposeEnded: null,
    projects: [],
  };
  private readonly projects: WindowProjects;
  /** The window's own connect while it starts or after it failed; the instance's state otherwise. */
  private pending: ConnectionStatus | undefined;
  private emitTimer: NodeJS.Timeout | undefined;
  /** The instance changed since the tunnels and connection were last read. */
  private stale = true;
  private readonly instance: LocalizerInstance;

  constructor(private readonly options: LocalizerBackendOptions) {
    super();
    this.instance = options.instance;
    this.projects = new WindowProjects({
      stateDirectory: options.instance.identity.stateDirectory,
      kubeconfig: options.kubeconfig,
      settings: options.settings,
      onChange: () => this.refresh(),
      current: () => currentFrom(this.instance.connectedContexts, this.instance.tunnels()),
    });
    this.instance.on('change', () => this.refresh());
    this.instance.on('cleanup', (cleanup) => this.update({ cleanup }));
    this.instance.on('exposeEnded', (exposeEnded) => this.update({ exposeEnded }));
    this.loadContexts();
    this.refresh();
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

  /** Emits at most every 100 ms: a burst of forward changes redraws the UI once. */
  private emitSoon(): void {
    if (this.emitTimer) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = undefined;
      this.emit('state', this.snapshot());
    }, 100);
  }

  private update(change: Partial<AppState>): void {
    this.state = { ...this.state, ...change };
    this.emitSoon();
  }

  /**
   * The instance changed: the tunnels and connection are read again when the state is next
   * needed (at most every 100 ms), not at every change of a forward during a connect.
   */
  private refresh(): void {
    this.stale = true;
    this.emitSoon();
  }

  /** The connection shown: the selected context's when it is connected, else the first connected one. */
  private readInstance(): void {
    this.stale = false;
    const connected = this.instance.connectedContexts;
    const shown =
      this.state.selectedContext && connected.includes(this.state.selectedContext)
        ? this.state.selectedContext
        : connected[0];
    const live = shown ? this.instance.connectionOf(shown) : undefined;
    if (live) this.pending = undefined;
    const tunnels = this.instance.tunnels();
    this.state = {
      ...this.state,
      tunnels,
      connection: live ?? this.pending ?? disconnected,
      // From the tunnels just read: the projects' state costs no second read of every tunnel.
      projects: this.projects.summaries(currentFrom(connected, tunnels)),
    };
  }

  snapshot(): AppState {
    if (this.stale) this.readInstance();
    return this.state;
  }

  getAppInfo(): Promise<Result<AppInfo, IpcErrorCode>> {
    return Promise.resolve(ok(this.options.appInfo));
  }

  getState(): Promise<Result<AppState, IpcErrorCode>> {
    return Promise.resolve(ok(this.snapshot()));
  }

  selectContext(name: string): Promise<Result<AppState, IpcErrorCode>> {
    this.loadContexts();
    if (!this.state.contexts.some((c) => c.name === name)) {
      return Promise.resolve(
        failure('invalid-input', `There is no context "${name}" in the kubeconfig. Pick one of the list.`),
      );
    }
    this.update({ selectedContext: name });
    this.refresh();
    return Promise.resolve(ok(this.snapshot()));
  }

  /** Connects the selected context, beside any others already connected (from the CLI). */
  async connect(): Promise<Result<AppState, IpcErrorCode>> {
    this.loadContexts();
    const name = this.state.selectedContext;
    if (!name) {
      return failure(
        'refused',
        this.state.kubeconfigProblem ?? 'No context is selected. Pick a context in the sidebar first.',
      );
    }
    if (this.instance.connectedContexts.includes(name)) return ok(this.snapshot());
    this.pending = { ...disconnected, state: 'connecting', context: name };
    this.refresh();
    try {
      await this.instance.connect({
        contexts: [name],
        names: true,
        ...(this.options.kubeconfig ? { source: { kubeconfig: this.options.kubeconfig } } : {}),
      });
    } catch (error) {
      this.pending = { ...disconnected, state: 'error', context: name, reason: toFailure(error).message };
      this.refresh();
      return failureOf(error);
    }
    this.refresh();
    return ok(this.snapshot());
  }

  async disconnect(): Promise<Result<AppState, IpcErrorCode>> {
    const failures = await this.instance.disconnect();
    this.pending = failures.length
      ? {
          ...disconnected,
          state: 'error',
          reason: `Could not undo: ${failures.join('; ')}. Run \`localizer cleanup\`.`,
        }
      : undefined;
    this.refresh();
    return ok(this.snapshot());
  }

  async expose(request: Parameters<ApiCalls['expose']>[0]): Promise<Result<TunnelStatus, IpcErrorCode>> {
    const name = this.snapshot().connection.context ?? this.state.selectedContext;
    if (!name) return failure('refused', 'No context is selected. Pick a context first.');
    const target = { namespace: request.namespace, service: request.service };
    try {
      this.update({ exposing: { ...target, message: 'cleaning up after earlier exposes' } });
      const status = await this.instance.expose(
        {
          context: name,
          ...target,
          mappings: request.mappings,
          ...(request.mode ? { mode: request.mode } : {}),
          ...(request.header ? { header: request.header } : {}),
        },
        (message) => this.update({ exposing: { ...target, message } }),
      );
      return ok(status);
    } catch (error) {
      return failureOf(error);
    } finally {
      this.update({ exposing: null });
      this.refresh();
    }
  }

  async stopExpose(target: { namespace: string; name: string }): Promise<Result<AppState, IpcErrorCode>> {
    try {
      await this.instance.unexpose({ namespace: target.namespace, service: target.name });
    } catch (error) {
      return failureOf(error);
    }
    this.refresh();
    return ok(this.snapshot());
  }

  private async workloadEnvironment(target: TunnelTarget): Promise<EnvironmentAnswer> {
    const context = this.snapshot().connection.context ?? this.state.selectedContext ?? undefined;
    return this.instance.environment({
      ...(context ? { context } : {}),
      ...(this.options.kubeconfig ? { source: { kubeconfig: this.options.kubeconfig } } : {}),
      namespace: target.namespace,
      workload: target.name,
    });
  }

  async getEnvironment(target: TunnelTarget): Promise<Result<EnvironmentText, IpcErrorCode>> {
    try {
      const answer = await this.workloadEnvironment(target);
      const notes = environmentNotes(answer);
      return ok({
        dotenv: formatEnvironment(answer.variables, 'dotenv', notes),
        variables: answer.variables.length,
        rewritten: answer.rewrites.length,
        missing: answer.unresolved.length,
      });
    } catch (error) {
      return failureOf(error);
    }
  }

  async openTerminal(target: TunnelTarget): Promise<Result<null, IpcErrorCode>> {
    const open = this.options.openTerminal;
    if (!open)
      return failure(
        'not-allowed',
        `This window cannot open a terminal. Run \`localizer run ${target.namespace}/${target.name} -- $SHELL\` in one instead.`,
      );
    try {
      const answer = await this.workloadEnvironment(target);
      await open(
        Object.fromEntries(answer.variables.map((v) => [v.name, v.value])),
        `${answer.workload} (${answer.container})`,
      );
      return ok(null);
    } catch (error) {
      return failureOf(error);
    }
  }

  private async projectCall(work: () => Promise<ProjectView>): Promise<Result<ProjectView, IpcErrorCode>> {
    try {
      return ok(await work());
    } catch (error) {
      return failure(projectFailureCode(error), toFailure(error).message);
    }
  }

  planProject(path: string): Promise<Result<ProjectView, IpcErrorCode>> {
    return this.projectCall(() => this.projects.plan(path));
  }

  projectUp(path: string): Promise<Result<ProjectView, IpcErrorCode>> {
    return this.projectCall(() => this.projects.up(path));
  }

  projectDown(path: string): Promise<Result<ProjectView, IpcErrorCode>> {
    return this.projectCall(() => this.projects.down(path));
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
    // The recent projects are the window's own list, kept as they are now (the form may be older).
    const saved = { ...parsed.data, recentProjects: this.options.settings.get().recentProjects };
    this.options.settings.set(saved);
    return Promise.resolve(ok(saved));
  }

  /** A notification was clicked: the window shows that tunnel. */
  focusTunnel(target: { namespace: string; name: string }): void {
    this.emit('focusTunnel', target);
  }

  /** Stops emitting; the instance is closed by whoever opened it. */
  dispose(): void {
    clearTimeout(this.emitTimer);
    this.emitTimer = undefined;
  }
}
