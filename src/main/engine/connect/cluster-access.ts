/**
 * Whether this user can use the cluster as connect needs, asked before anything is watched: the
 * context's credential plugin, then a one-item list of services everywhere (or in each namespace
 * asked for), and each failure in words that say what to do.
 */
import type * as k8s from '@kubernetes/client-node';
import type { KubeContext } from '../kube/kube-context';
import { describeError, errorStatus } from '../kube/api-errors';

/** The cluster cannot be used as configured; the message says what to do. */
export class ConnectError extends Error {
  override name = 'ConnectError';
}

/** Which namespaces to watch (none: all of them), and what the user should know of that choice. */
export interface WatchScope {
  namespaces: string[];
  /** Set when the scope is narrower than asked (RBAC forbids listing everywhere). */
  note: string;
}

/**
 * Checks that the cluster answers and picks cluster-wide or per-namespace watching, falling back
 * to the context's namespace when RBAC forbids listing everywhere. Throws `ConnectError`.
 */
export async function watchScope(
  kubeContext: KubeContext,
  core: k8s.CoreV1Api,
  namespaces: readonly string[],
  onStep: (step: StartStep) => void = () => undefined,
): Promise<WatchScope> {
  onStep('credentials');
  await checkCredentials(kubeContext);
  onStep('api-server');
  if (namespaces.length > 0) {
    for (const namespace of namespaces) {
      await core.listNamespacedService({ namespace, limit: 1 }).catch((error: unknown) => {
        throw explainAccessError(kubeContext, error, namespace);
      });
    }
    return { namespaces: [...namespaces], note: '' };
  }
  try {
    await core.listServiceForAllNamespaces({ limit: 1 });
    return { namespaces: [], note: '' };
  } catch (error) {
    if (errorStatus(error) !== 403) throw explainAccessError(kubeContext, error);
    return {
      namespaces: [kubeContext.namespace],
      note: `listing services in all namespaces is forbidden for this user, so only namespace ${kubeContext.namespace} is connected; pass --namespace for others you may read`,
    };
  }
}

/** What a starting connect waits for: its credential plugin, then the API server's answers. */
export type StartStep = 'credentials' | 'api-server';

/** The context's credential plugin (a cloud login tool's command), if its user has one. */
function credentialPlugin(kubeContext: KubeContext): string | undefined {
  const command = (kubeContext.kubeConfig.getCurrentUser()?.exec as { command?: unknown } | undefined)
    ?.command;
  return typeof command === 'string' ? command : undefined;
}

/**
 * What to tell a user whose connect has not started after a while. A credential plugin is the
 * likely wait: client-node runs it with no terminal and shows nothing it prints until it ends,
 * so a sign-in it waits for (a browser, a device code) never shows.
 */
export function slowStartNote(kubeContext: KubeContext, waitingOn: StartStep): string {
  const command = credentialPlugin(kubeContext);
  return command === undefined || waitingOn !== 'credentials'
    ? `Still waiting for the API server at ${kubeContext.server} (context ${kubeContext.name})…`
    : `Still waiting for the credential plugin "${command}" of context "${kubeContext.name}": a sign-in it waits for cannot show here (it runs without a terminal). Sign in with it, or your cloud CLI, in another terminal; connect goes on once it answers (Ctrl-C stops).`;
}

/**
 * Runs the context's credential plugin (cloud login tools), if it has one, before anything
 * else: its failure means logging in again, not a network problem.
 */
async function checkCredentials(kubeContext: KubeContext): Promise<void> {
  const { kubeConfig, name } = kubeContext;
  const command = credentialPlugin(kubeContext);
  if (command === undefined) return;
  try {
    await kubeConfig.applyToHTTPSOptions({});
  } catch (error) {
    const said = (error instanceof Error ? error.message : String(error)).trim();
    throw new ConnectError(
      `The credential plugin "${command}" of context "${name}" failed${said ? `: ${said}` : ''}. Run it yourself (or your cloud CLI's login) to sign in again, then retry.`,
    );
  }
}

/** A failed list of services, as what the user should do about it. */
function explainAccessError(kubeContext: KubeContext, error: unknown, namespace?: string): ConnectError {
  const { server, name } = kubeContext;
  const status = errorStatus(error);
  const detail = describeError(error);
  if (status === 401) {
    return new ConnectError(
      `The cluster at ${server} rejected the credentials of context "${name}" (401): the token may have expired. Log in again (for example with your cloud CLI) and retry.`,
    );
  }
  if (status === 403) {
    return new ConnectError(
      `The user of context "${name}" may not list services${namespace ? ` in namespace ${namespace}` : ''}: ${detail}. Ask for read access or choose another --namespace.`,
    );
  }
  if (status === 404 && namespace)
    return new ConnectError(`There is no namespace "${namespace}" in the cluster at ${server}.`);
  return new ConnectError(
    `Cannot reach the Kubernetes API server at ${server}: ${detail}. Check that the cluster is up and that you are on its network (VPN), then retry.`,
  );
}
