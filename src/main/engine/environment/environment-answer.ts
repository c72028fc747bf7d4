/**
 * `localizer env` and `run`'s answer for one workload container: read, resolved, and rewritten
 * to this machine's forwards when the context is connected here.
 */
import type { ClusterApis } from '../kube/cluster-apis';
import type { EnvironmentAnswer } from '../../../shared/control-answers';
import type { TunnelStatus } from '../../../shared/tunnel-status';
import type { KubeContext } from '../kube/kube-context';
import { rewriteAddresses } from './address-rewrite';
import { readWorkloadEnvironment } from './workload-environment';

export interface EnvironmentQuery {
  namespace: string;
  /** `deploy/NAME`, `sts/NAME`, `pod/NAME` or a service's name. */
  workload: string;
  container?: string;
  /** Also the files of its ConfigMap, Secret and downward-API volumes. */
  files?: boolean;
}

export async function answerEnvironment(
  context: KubeContext,
  query: EnvironmentQuery,
  /** The context's API clients (the instance's, shared by everything talking to that cluster). */
  apis: Pick<ClusterApis, 'core' | 'apps'>,
  /** The context's connection here, if any: its forwards and cluster domain. */
  connection?: { tunnels: readonly TunnelStatus[]; clusterDomain: string },
): Promise<EnvironmentAnswer> {
  const read = await readWorkloadEnvironment(apis, {
    context: context.name,
    namespace: query.namespace,
    workload: query.workload,
    ...(query.container ? { container: query.container } : {}),
    ...(query.files ? { files: true } : {}),
  });
  const { variables, rewrites } = connection
    ? rewriteAddresses(read.variables, {
        tunnels: connection.tunnels,
        clusterIps: read.clusterIps,
        namespace: query.namespace,
        clusterDomain: connection.clusterDomain,
      })
    : { variables: read.variables, rewrites: [] };
  return {
    context: context.name,
    workload: read.workload,
    container: read.container,
    pod: read.pod,
    variables,
    unresolved: read.unresolved,
    rewrites,
    connected: connection !== undefined,
    ...(read.files
      ? {
          files: read.files.map((f) => ({
            path: f.path,
            content: f.content.toString('base64'),
            mode: f.mode,
          })),
        }
      : {}),
  };
}
