/**
 * Clients (API clients and a port-forward dialer per context) as a Localizer instance keeps
 * them, for tests that run a connect engine or an expose manager alone. Each engine or manager
 * gets a set of its own, as each Localizer process has; `releaseAll` after the test file closes
 * their dialers, as the instance does when it closes.
 */
import { ContextClients } from '../../src/main/engine/instance/context-clients';
import type { KubeContext } from '../../src/main/engine/kube/kube-context';
import type { ClusterClients } from '../../src/main/engine/kube/cluster-apis';
import type { ExposeManagerOptions } from '../../src/main/engine/expose/expose-manager';

export class TestClients {
  private readonly made: ContextClients[] = [];

  private fresh(): ContextClients {
    const clients = new ContextClients({ log: () => undefined, onHealthChange: () => undefined });
    this.made.push(clients);
    return clients;
  }

  /** For `new ConnectEngine({ clients })`: the context's clients, in a set of their own. */
  forEngine(context: KubeContext): ClusterClients {
    return this.fresh().for(context);
  }

  /** For `new ExposeManager({ clients })`: a set of its own. */
  forExposes(): ExposeManagerOptions['clients'] {
    const clients = this.fresh();
    return {
      apisFor: (context) => clients.apisFor(context),
      dialerFor: (context) => clients.for(context).dialer,
    };
  }

  releaseAll(): void {
    for (const clients of this.made) clients.releaseAllBut([]);
    this.made.length = 0;
  }
}
