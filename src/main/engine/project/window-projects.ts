/**
 * Project files as the window and the tray use them: opened by path (and remembered among the
 * recent ones, in the settings), planned, brought up and down in this Localizer through its own
 * control socket, so the window's up is the same as `localizer up`'s cluster side. The `run:`
 * processes are named, not run: they belong in a terminal (`localizer up`), where their output
 * can be read and Ctrl-C stops them.
 */
import { basename, dirname } from 'node:path';
import type { ProjectView } from '../../../shared/api';
import type { ProjectSummary } from '../../../shared/app-state';
import type { KubeSource } from '../../../shared/control-protocol';
import type { Settings } from '../../../shared/settings';
import { isProcessAlive } from '../expose/expose-records';
import { bringDown, bringUp, preparePlan } from './project-control';
import { liveRecord, type CurrentState } from './project-plan';
import { ProjectFileError, readProjectFile } from './project-file-reader';
import { ControlError } from '../control/control-client';
import { isRefusal } from '../instance/instance-refusal';
import { KubeconfigError } from '../kube/kubeconfig-error';
import { readProjectRecord } from './project-records';

export interface WindowProjectsOptions {
  stateDirectory: string;
  /** The window's explicit kubeconfig, if any; else KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string | undefined;
  settings: { get(): Settings; set(settings: Settings): void };
  /** Something shown changed (the recent list, or a project's state). */
  onChange: () => void;
  /** What this Localizer holds now: a record of what it no longer holds is not "up". */
  current: () => CurrentState;
}

const recentLimit = 10;

export class WindowProjects {
  constructor(private readonly options: WindowProjectsOptions) {}

  private get source(): KubeSource {
    return {
      ...(this.options.kubeconfig ? { kubeconfig: this.options.kubeconfig } : {}),
      ...(process.env.KUBECONFIG ? { kubeconfigEnv: process.env.KUBECONFIG } : {}),
    };
  }

  private get env(): NodeJS.ProcessEnv {
    return this.options.kubeconfig ? { ...process.env, KUBECONFIG: this.options.kubeconfig } : process.env;
  }

  /** Whether anything an up of `path` made still stands (a quit undoes it all, the record stays). */
  private isUp(path: string, current: CurrentState = this.options.current()): boolean {
    const live = liveRecord(readProjectRecord(this.options.stateDirectory, path), current);
    if (!live) return false;
    const processes = live.processesIn && isProcessAlive(live.processesIn.pid);
    return live.connected !== null || live.exposes.length > 0 || Boolean(processes);
  }

  /** The recent projects, newest first, each up or not in `current`. */
  summaries(current: CurrentState): ProjectSummary[] {
    return this.options.settings.get().recentProjects.map((path) => ({
      path,
      name: basename(dirname(path)),
      up: this.isUp(path, current),
    }));
  }

  private remember(path: string): void {
    const settings = this.options.settings.get();
    const recent = [path, ...settings.recentProjects.filter((p) => p !== path)].slice(0, recentLimit);
    if (recent.join('\n') !== settings.recentProjects.join('\n'))
      this.options.settings.set({ ...settings, recentProjects: recent });
    this.options.onChange();
  }

  private async view(path: string, log: string[]): Promise<ProjectView> {
    const project = readProjectFile(path, this.env);
    const prepared = await preparePlan(this.options.stateDirectory, project, this.env);
    return {
      path: project.path,
      plan: prepared.lines,
      // The window runs no processes, so only the cluster side counts here.
      changes: prepared.plan.changes,
      up: this.isUp(project.path),
      processes: (project.file.run ?? []).map((r) => r.name),
      log,
    };
  }

  async plan(path: string): Promise<ProjectView> {
    const shown = await this.view(path, []);
    this.remember(shown.path);
    return shown;
  }

  async up(path: string): Promise<ProjectView> {
    const project = readProjectFile(path, this.env);
    this.remember(project.path);
    const log: string[] = [];
    try {
      const prepared = await bringUp(this.options.stateDirectory, project, {
        source: this.source,
        env: this.env,
        print: (line) => log.push(line),
      });
      if (!prepared.plan.changes) log.push('Everything was already up as the file says.');
    } finally {
      this.options.onChange();
    }
    return this.view(project.path, log);
  }

  async down(path: string): Promise<ProjectView> {
    const log: string[] = [];
    try {
      const down = await bringDown(this.options.stateDirectory, path, (line) => log.push(line));
      if (!down) log.push('Nothing to bring down: no up of it is recorded.');
    } finally {
      this.options.onChange();
    }
    // Brought down after its file was deleted or broken: nothing to plan, but it is down.
    return this.view(path, log).catch(() => ({
      path,
      plan: [],
      changes: false,
      up: false,
      processes: [],
      log,
    }));
  }
}

/**
 * How the window reports a project call's failure: the project file's or the kubeconfig's is
 * the user's to fix; a refusal is the cluster's or the running Localizer's.
 */
export function projectFailureCode(error: unknown): 'invalid-input' | 'refused' | 'internal' {
  if (error instanceof ProjectFileError || error instanceof KubeconfigError) return 'invalid-input';
  return error instanceof ControlError || isRefusal(error) ? 'refused' : 'internal';
}
