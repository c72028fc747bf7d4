/**
 * One set of clients per context and credentials, shared by its connect, its relay, its exposes
 * and `env`: the API clients, and one port-forward dialer (one set of sessions per pod, one
 * transport choice, and one place the `LOCALIZER_PORT_FORWARD` choice is applied).
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

/**
 * Who the clients act as: the kubeconfig's user, as the files it came from name it. Another
 * kubeconfig may name the same context and server with its own user, even under the same user
 * name (a Role-bound user beside an admin's), and each must act as itself. Not the user's entry:
 * client-node rewrites that in place when it refreshes an OIDC token.
 */
function credentialsOf(context: KubeContext): string {
  return `${context.files.join('\n')}|${context.kubeConfig.getCurrentUser()?.name ?? ''}`;
}

export class ContextClients {
  /** By `contextKey`, then by `credentialsOf`. */
  private readonly clients = new Map<string, Map<string, ClusterClients>>();

  constructor(private readonly options: ContextClientsOptions) {}

  /** The clients for the context as its kubeconfig's user, made on first use. */
  for(context: KubeContext): ClusterClients {
    const key = contextKey(context);
    const byCredentials = this.clients.get(key) ?? new Map<string, ClusterClients>();
    this.clients.set(key, byCredentials);
    const credentials = credentialsOf(context);
    let clients = byCredentials.get(credentials);
    if (!clients) {
      clients = {
        apis: makeClusterApis(context.kubeConfig),
        dialer: createPodDialer(context.kubeConfig, {
          ...(this.options.firstTransport ? { firstTransport: this.options.firstTransport } : {}),
          log: (message) => this.options.log(context, message),
          onHealthChange: this.options.onHealthChange,
        }),
      };
      byCredentials.set(credentials, clients);
    }
    return clients;
  }

  /**
   * API clients for a question (`env`, a cleanup): the ones something here already talks to the
   * cluster with as the same user, else new ones, with no dialer to close.
   */
  apisFor(context: KubeContext): ClusterApis {
    return this.existing(context)?.apis ?? makeClusterApis(context.kubeConfig);
  }

  /** How port-forwards reach pods in `context` as its user now, once one has. */
  transportOf(context: KubeContext): PortForwardTransport | undefined {
    return this.existing(context)?.dialer.transport;
  }

  /** Closes the clients no context in `inUse` acts with (a context with another user's clients too). */
  releaseAllBut(inUse: readonly KubeContext[]): void {
    const kept = new Set(inUse.map((context) => `${contextKey(context)}\n${credentialsOf(context)}`));
    for (const [key, byCredentials] of this.clients) {
      for (const [credentials, clients] of byCredentials) {
        if (kept.has(`${key}\n${credentials}`)) continue;
        clients.dialer.close();
        byCredentials.delete(credentials);
      }
      if (byCredentials.size === 0) this.clients.delete(key);
    }
  }

  private existing(context: KubeContext): ClusterClients | undefined {
    return this.clients.get(contextKey(context))?.get(credentialsOf(context));
  }
}
