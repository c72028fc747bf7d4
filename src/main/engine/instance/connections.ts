/**
 * The instance's connected contexts, by name, and which context a request means: the one it
 * names, loaded the way the asking side would load it, or the only one connected.
 */
import type { KubeSource } from '../../../shared/control-protocol';
import type { ConnectEngine } from '../connect/connect-engine';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';
import { InstanceRefusedError } from './instance-refusal';

export interface Connection {
  context: KubeContext;
  engine: ConnectEngine;
  clusterDomain: string;
}

export class Connections extends Map<string, Connection> {
  /** `kubeconfig`: the one the instance was started with; requests that name none use it. */
  constructor(private readonly kubeconfig: string | undefined) {
    super();
  }

  /** Loads a context as the asking side would: its kubeconfig, else ours, else its KUBECONFIG. */
  load(source: KubeSource | undefined, context: string | undefined): KubeContext {
    const kubeconfig = source?.kubeconfig ?? this.kubeconfig;
    return loadKubeContext({
      ...(kubeconfig ? { kubeconfig } : {}),
      ...(context ? { context } : {}),
      ...(source?.kubeconfigEnv !== undefined && !kubeconfig
        ? { env: { ...process.env, KUBECONFIG: source.kubeconfigEnv } }
        : {}),
    });
  }

  /**
   * The context an expose or cleanup is for: the one named, the only one connected, or the
   * kubeconfig's current context when none is. Several connected and none named is a question.
   */
  contextFor(source: KubeSource | undefined, name: string | undefined): KubeContext {
    if (source?.kubeconfig) return this.load(source, name);
    if (name) return this.get(name)?.context ?? this.load(source, name);
    const connected = [...this.values()];
    if (connected.length === 1 && connected[0]) return connected[0].context;
    if (connected.length > 1)
      throw new InstanceRefusedError(
        `Several contexts are connected (${[...this.keys()].join(', ')}): pick one with --context.`,
      );
    return this.load(source, undefined);
  }
}
