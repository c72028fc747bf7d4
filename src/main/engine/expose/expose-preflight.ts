/**
 * What an expose checks before it changes anything, so that what cannot work is refused with a
 * reason and a fix: the service exists, the account may do what an expose does, nobody else
 * exposes it, no autoscaler would fight the scale-down, and each asked port maps to one.
 */
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../kube/api-errors';
import { localizerKeys } from '../kube/localizer-keys';
import type { KubeApis } from './leftovers';
import { resolveExposedPorts, type ExposedPort, type PortMapping } from './port-map';
import { labels } from './ssh-pod';
import {
  ExposeRefusedError,
  findServingWorkloads,
  refuseAutoscaled,
  type ServingWorkload,
} from './workload-scaler';

/** The API groups an expose reads and changes. */
export type SessionApis = KubeApis & { autoscaling: k8s.AutoscalingV2Api; discovery: k8s.DiscoveryV1Api };

export interface ExposeTarget {
  context: string;
  namespace: string;
  service: string;
}

export interface ExposePlan {
  service: k8s.V1Service;
  workloads: ServingWorkload[];
  ports: ExposedPort[];
}

/** A refused request as an ExposeRefusedError naming what was being done and what to do. */
export function refusal(error: unknown, doing: string, namespace: string): Error {
  if (error instanceof ExposeRefusedError) return error;
  if (errorStatus(error) === 403) {
    return new ExposeRefusedError(
      `Your account may not ${doing}: ${describeError(error)}. Exposing needs get/list/patch on deployments, statefulsets and replicasets, create/delete/patch on pods and create/delete on secrets, in namespace ${namespace}; ask a cluster admin for them.`,
    );
  }
  return new Error(`Could not ${doing}: ${describeError(error)}`);
}

async function readService(apis: SessionApis, target: ExposeTarget): Promise<k8s.V1Service> {
  const { namespace, service } = target;
  try {
    return await apis.core.readNamespacedService({ namespace, name: service });
  } catch (error) {
    if (errorStatus(error) === 404)
      throw new ExposeRefusedError(
        `There is no service ${namespace}/${service} in context ${target.context}. Check the name with \`localizer list\` or \`kubectl get services -n ${namespace}\`.`,
      );
    throw refusal(error, `read service ${namespace}/${service}`, namespace);
  }
}

async function refuseIfExposed(apis: SessionApis, target: ExposeTarget): Promise<void> {
  const { namespace } = target;
  const name = `${namespace}/${target.service}`;
  const pods = await apis.core
    .listNamespacedPod({ namespace, labelSelector: labels.session })
    .catch((error: unknown) => {
      throw refusal(error, `list pods in namespace ${namespace}`, namespace);
    });
  // A terminating pod is an expose that was stopped: it no longer takes calls.
  const existing = pods.items.find(
    (pod) => pod.metadata?.annotations?.[localizerKeys.service] === name && !pod.metadata.deletionTimestamp,
  );
  if (existing) {
    const owner = existing.metadata?.annotations?.[localizerKeys.owner] ?? 'someone';
    throw new ExposeRefusedError(
      `${name} is already exposed by ${owner} (pod ${existing.metadata?.name ?? ''}). Stop that expose first (\`localizer expose ${name} --stop\`), or run \`localizer cleanup --force\` if it is abandoned.`,
    );
  }
}

/** Every check, in order; rejects with the first refusal. Changes nothing in the cluster. */
export async function planExpose(
  apis: SessionApis,
  target: ExposeTarget,
  mappings: readonly PortMapping[],
): Promise<ExposePlan> {
  const service = await readService(apis, target);
  const workloads = await findServingWorkloads(apis.apps, service).catch((error: unknown) => {
    throw refusal(error, `list the workloads in namespace ${target.namespace}`, target.namespace);
  });
  await refuseIfExposed(apis, target);
  await refuseAutoscaled(apis.autoscaling, workloads).catch((error: unknown) => {
    // Without read access to autoscalers there is nothing to check; a refusal is final.
    if (error instanceof ExposeRefusedError) throw error;
  });
  const ports = resolveExposedPorts(
    service,
    workloads.flatMap((w) => (w.template ? [w.template] : [])),
    mappings,
  );
  return { service, workloads, ports };
}
