/**
 * One set of clients per context, shared by its connect, its relay, its exposes and `env`: the
 * API clients, and one port-forward dialer (one set of sessions per pod, one transport choice,
 * and one place the `LOCALIZER_PORT_FORWARD` choice is applied).
 */
import { makeClusterApis, type ClusterApis, type ClusterClients } from '../kube/cluster-apis';
import type { KubeContext } from '../kube/kube-context';
import { createPodDialer, type PortForwardTransport } from '../kube/pod-dialer';

export interface ContextClientsOptions {
  /** The transport tried first; SPDY over WebSocket by default. */
  firstTransport?: PortForwardTransport;
  log: (context: KubeContext, message: string) => void;
  onHealthChange: () => void;
}

/** A context is the same one only on the same API server (another kubeconfig may reuse a name). */
export function contextKey(context: { name: string; server: string }): string {
  return `${context.name}|${context.server}`;
}

/** Another kubeconfig may name the same context and server with another user: its own credentials. */
function userOf(context: KubeContext): string | undefined {
  return context.kubeConfig.getCurrentUser()?.name;
}

export class ContextClients {
  /** By `contextKey`, with the kubeconfig user they were made for. */
  private readonly clients = new Map<string, ClusterClients & { user: string | undefined }>();

  constructor(private readonly options: ContextClientsOptions) {}

  /** The context's clients, made on first use. */
  for(context: KubeContext): ClusterClients {
    const key = contextKey(context);
    let clients = this.clients.get(key);
    if (!clients) {
      clients = {
        user: userOf(context),
        apis: makeClusterApis(context.kubeConfig),
        dialer: createPodDialer(context.kubeConfig, {
          ...(this.options.firstTransport ? { firstTransport: this.options.firstTransport } : {}),
          log: (message) => this.options.log(context, message),
          onHealthChange: this.options.onHealthChange,
        }),
      };
      this.clients.set(key, clients);
    }
    return clients;
  }

  /**
   * API clients for a question (`env`, a cleanup): the context's own when something here talks
   * to its cluster as the same user already, else new ones, with no dialer to close.
   */
  apisFor(context: KubeContext): ClusterApis {
    const existing = this.clients.get(contextKey(context));
    return existing && existing.user === userOf(context)
      ? existing.apis
      : makeClusterApis(context.kubeConfig);
  }

  /** How port-forwards reach pods in `context` now, once one has. */
  transportOf(context: KubeContext): PortForwardTransport | undefined {
    return this.clients.get(contextKey(context))?.dialer.transport;
  }

  /** Closes the clients of contexts not in `inUse` (keys from `contextKey`). */
  releaseAllBut(inUse: ReadonlySet<string>): void {
    for (const [key, clients] of this.clients) {
      if (inUse.has(key)) continue;
      clients.dialer.close();
      this.clients.delete(key);
    }
  }
}
