/**
 * The router's shared state in its ConfigMap, as every developer's Localizer reads and writes
 * it: each write is guarded by the resourceVersion it was read at, so two writers never both
 * win, and carries HAProxy's configuration rendered from the same state (a restarted router
 * starts with the routes held now).
 */
import type * as k8s from '@kubernetes/client-node';
import { errorStatus } from '../../kube/api-errors';
import { refusal } from '../expose-preflight';
import { routerConfigData, type RouterObjects } from './router-objects';
import { parseRouterState, stateKey, type RouterState } from './router-state';

export interface StoredState {
  configMap: k8s.V1ConfigMap;
  /** Undefined when the ConfigMap holds nothing Localizer can read. */
  state: RouterState | undefined;
}

export class RouterStore {
  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly namespace: string,
    private readonly names: RouterObjects,
  ) {}

  private get what(): string {
    return `configmap ${this.namespace}/${this.names.configMap}`;
  }

  /** The ConfigMap and its state; undefined when there is no router. */
  async read(): Promise<StoredState | undefined> {
    try {
      const configMap = await this.core.readNamespacedConfigMap({
        namespace: this.namespace,
        name: this.names.configMap,
      });
      return { configMap, state: parseRouterState(configMap.data?.[stateKey]) };
    } catch (error) {
      if (errorStatus(error) === 404) return undefined;
      throw refusal(error, `read ${this.what}`, this.namespace);
    }
  }

  /** Creates the router's ConfigMap; undefined when another developer's creation came first. */
  async create(state: RouterState): Promise<k8s.V1ConfigMap | undefined> {
    try {
      return await this.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: this.names.configMapObject(routerConfigData(state)),
      });
    } catch (error) {
      if (errorStatus(error) === 409) return undefined;
      throw refusal(error, `create ${this.what}`, this.namespace);
    }
  }

  /** Writes `next` over the ConfigMap as read; false when someone wrote in between. */
  async write(current: k8s.V1ConfigMap, next: RouterState): Promise<boolean> {
    try {
      await this.core.replaceNamespacedConfigMap({
        namespace: this.namespace,
        name: this.names.configMap,
        body: { metadata: current.metadata, data: routerConfigData(next) },
      });
      return true;
    } catch (error) {
      if (errorStatus(error) === 409) return false;
      throw refusal(error, `update ${this.what}`, this.namespace);
    }
  }
}
