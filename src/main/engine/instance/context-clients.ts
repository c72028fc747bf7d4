/**
 * One port-forward dialer per context, shared by its connect, its relay and its exposes: one set
 * of sessions per pod, one transport choice, and one place the `LOCALIZER_PORT_FORWARD` choice
 * is applied.
 */
import type { KubeContext } from '../kube/kube-context';
import { createPodDialer, type PodDialer, type PortForwardTransport } from '../kube/pod-dialer';

export interface ContextDialersOptions {
  /** The transport tried first; SPDY over WebSocket by default. */
  firstTransport?: PortForwardTransport;
  log: (context: KubeContext, message: string) => void;
  onHealthChange: () => void;
}

/** A context is the same one only on the same API server (another kubeconfig may reuse a name). */
export function dialerKey(context: { name: string; server: string }): string {
  return `${context.name}|${context.server}`;
}

export class ContextDialers {
  private readonly dialers = new Map<string, PodDialer>();

  constructor(private readonly options: ContextDialersOptions) {}

  /** The context's dialer, made on first use. */
  for(context: KubeContext): PodDialer {
    const key = dialerKey(context);
    let dialer = this.dialers.get(key);
    if (!dialer) {
      dialer = createPodDialer(context.kubeConfig, {
        ...(this.options.firstTransport ? { firstTransport: this.options.firstTransport } : {}),
        log: (message) => this.options.log(context, message),
        onHealthChange: this.options.onHealthChange,
      });
      this.dialers.set(key, dialer);
    }
    return dialer;
  }

  /** How port-forwards reach pods in `context` now, once one has. */
  transportOf(context: KubeContext): PortForwardTransport | undefined {
    return this.dialers.get(dialerKey(context))?.transport;
  }

  /** Closes the dialers of contexts not in `inUse` (keys from `dialerKey`). */
  releaseAllBut(inUse: ReadonlySet<string>): void {
    for (const [key, dialer] of this.dialers) {
      if (inUse.has(key)) continue;
      dialer.close();
      this.dialers.delete(key);
    }
  }
}
