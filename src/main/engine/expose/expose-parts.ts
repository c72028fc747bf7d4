/**
 * What one expose has made so far: the plan, the SSH keys, the SSH pod's keeper and the mode's
 * actions, each made once, when the first step that needs it comes. The start steps add to it,
 * and the undo reads it to know what there is to give back.
 */
import type { ExposeMode } from '../../../shared/tunnel-status';
import type { PodDialer } from '../kube/pod-dialer';
import type { Clock } from '../timing/clock';
import { modeActions, type ModeActions } from './expose-modes';
import type { ExposePlan, SessionApis } from './expose-preflight';
import type { ExposeRequest } from './expose-request';
import type { SshKeys } from './ssh-pod';
import type { SshImage } from './ssh-image';
import { SshPodKeeper } from './ssh-pod-keeper';

export interface ExposePartsOptions {
  apis: SessionApis;
  session: string;
  owner: string;
  image: SshImage;
  mode: ExposeMode;
  header: ExposeRequest['header'];
  dialer: PodDialer;
  clock: Clock;
  pollMs: number;
  /** How long a stop lets calls already in the tunnel finish. */
  drainTimeoutMs: number;
  startTimeoutMs: number;
  isStopping: () => boolean;
  /** The SSH pod's address, where its tunnel listens, once it runs. */
  podAddress: () => string | null;
}

export class ExposeParts {
  plan: ExposePlan | undefined;
  keys: SshKeys | undefined;
  /** The Service was taken (its selector switched, or its workloads scaled down). */
  routed = false;
  private podKeeper: SshPodKeeper | undefined;
  private actions: ModeActions | undefined;

  constructor(private readonly options: ExposePartsOptions) {}

  /** The SSH pod's image (the request's, else the manager's), chosen once. */
  get image(): SshImage {
    return this.options.image;
  }

  /** The SSH pod's keeper, if the keys were made (and with them the record). */
  get existingPod(): SshPodKeeper | undefined {
    return this.podKeeper;
  }

  /** Whose routes share a personal intercept's router, as its actions know now. */
  sharedWith(): string[] {
    return this.actions?.sharedWith?.() ?? [];
  }

  /** The SSH pod's keeper, made once the plan and keys are. */
  pod(): SshPodKeeper {
    if (this.podKeeper) return this.podKeeper;
    const { plan, keys, options } = this;
    if (!plan || !keys) throw new Error('the plan and keys come before the pod');
    this.podKeeper = new SshPodKeeper({
      apis: options.apis,
      clock: options.clock,
      session: options.session,
      owner: options.owner,
      image: options.image,
      keys,
      service: plan.service,
      ports: plan.ports,
      workloads: plan.workloads,
      pollMs: options.pollMs,
      isStopping: options.isStopping,
      mode: options.mode,
    });
    return this.podKeeper;
  }

  /** How the Service is taken and given back, made once the plan is. */
  mode(): ModeActions {
    if (this.actions) return this.actions;
    const { plan, options } = this;
    if (!plan) throw new Error('the plan comes before the mode');
    this.actions = modeActions(options.mode, {
      apis: options.apis,
      session: options.session,
      owner: options.owner,
      plan,
      clock: options.clock,
      pollMs: options.pollMs,
      podName: () => this.podKeeper?.podName ?? null,
      podAddress: options.podAddress,
      dialer: options.dialer,
      ...(options.header ? { header: options.header } : {}),
      drainTimeoutMs: options.drainTimeoutMs,
      startTimeoutMs: options.startTimeoutMs,
      isStopping: options.isStopping,
    });
    return this.actions;
  }
}
