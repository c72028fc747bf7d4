/**
 * What connect watches in the cluster: Services and EndpointSlices, everywhere or in each
 * namespace of its scope, through informers that restart themselves, and the engine's health
 * as those watches stand.
 */
import { EventEmitter } from 'node:events';
import type * as k8s from '@kubernetes/client-node';
import type { ClusterApis } from '../kube/cluster-apis';
import { ResilientInformer, type InformerHealth } from '../kube/resilient-informer';

export interface EngineHealth {
  state: 'connecting' | 'connected' | 'degraded' | 'stopped';
  /** What is wrong, or what is limited (for example only some namespaces are readable). */
  reason: string;
}

/** The engine's health from its watches' health; `scopeNote` says what is limited. */
export function engineHealth(
  watches: readonly InformerHealth[],
  stopped: boolean,
  scopeNote: string,
): EngineHealth {
  if (stopped) return { state: 'stopped', reason: '' };
  const degraded = watches.find(
    (h): h is Extract<InformerHealth, { state: 'degraded' }> => h.state === 'degraded',
  );
  if (degraded)
    return {
      state: 'degraded',
      reason: `lost the watch on the cluster (${degraded.reason}); retrying in ${Math.round(degraded.retryInMs / 100) / 10} s`,
    };
  if (watches.every((h) => h.state === 'connected')) return { state: 'connected', reason: scopeNote };
  return { state: 'connecting', reason: scopeNote };
}

export class ClusterWatch extends EventEmitter<{ change: []; health: [] }> {
  private readonly services: ResilientInformer<k8s.V1Service>[] = [];
  private readonly slices: ResilientInformer<k8s.V1EndpointSlice>[] = [];

  /** Watches `namespaces`, or every namespace when there are none. */
  constructor(
    kubeConfig: k8s.KubeConfig,
    { core, discovery }: Pick<ClusterApis, 'core' | 'discovery'>,
    namespaces: readonly string[],
  ) {
    super();
    for (const namespace of namespaces.length === 0 ? [undefined] : namespaces) {
      this.services.push(
        new ResilientInformer<k8s.V1Service>({
          kubeConfig,
          path: namespace ? `/api/v1/namespaces/${namespace}/services` : '/api/v1/services',
          list: () =>
            namespace ? core.listNamespacedService({ namespace }) : core.listServiceForAllNamespaces(),
        }),
      );
      this.slices.push(
        new ResilientInformer<k8s.V1EndpointSlice>({
          kubeConfig,
          path: namespace
            ? `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`
            : '/apis/discovery.k8s.io/v1/endpointslices',
          list: () =>
            namespace
              ? discovery.listNamespacedEndpointSlice({ namespace })
              : discovery.listEndpointSliceForAllNamespaces(),
        }),
      );
    }
  }

  private get informers(): (ResilientInformer<k8s.V1Service> | ResilientInformer<k8s.V1EndpointSlice>)[] {
    return [...this.services, ...this.slices];
  }

  start(): void {
    for (const informer of this.informers) {
      informer.on('change', () => this.emit('change'));
      informer.on('health', () => this.emit('health'));
      informer.start();
    }
  }

  /** Every watch has its full list. */
  get listed(): boolean {
    return this.informers.every((i) => i.health.state === 'connected');
  }

  health(stopped: boolean, scopeNote: string): EngineHealth {
    return engineHealth(
      this.informers.map((i) => i.health),
      stopped,
      scopeNote,
    );
  }

  listServices(): k8s.V1Service[] {
    return this.services.flatMap((i) => i.list());
  }

  listSlices(): k8s.V1EndpointSlice[] {
    return this.slices.flatMap((i) => i.list());
  }

  /** Drops every watch and lists afresh (after a sleep, when they are most likely dead). */
  restartNow(): void {
    for (const informer of this.informers) informer.restartNow();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
