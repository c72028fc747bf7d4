/**
 * The workloads that serve a Service today (Deployments, StatefulSets and standalone ReplicaSets
 * whose pod template the selector matches), scaled to zero for an expose and back afterwards.
 * The original replica count and its owner are written on the workload itself in the same patch
 * that scales it, so a crash never loses them and another machine's expose is never touched.
 */
import * as k8s from '@kubernetes/client-node';
import { localizerKeys } from '../kube/localizer-keys';
import { ExposeRefusedError } from './expose-refused-error';

export const annotations = {
  owner: localizerKeys.owner,
  session: localizerKeys.session,
  originalReplicas: localizerKeys.originalReplicas,
} as const;

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'ReplicaSet';

export interface ServingWorkload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  replicas: number;
  /** Its pod template, which names the container ports the service's named target ports mean. */
  template?: k8s.V1PodTemplateSpec;
}

export interface ExposeOwner {
  /** `user@host`, shown to whoever finds the annotation. */
  owner: string;
  session: string;
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

type ScalableObject = k8s.V1Deployment | k8s.V1StatefulSet | k8s.V1ReplicaSet;

/** Deployments, StatefulSets and standalone ReplicaSets in the service's namespace whose pods it selects. */
export async function findServingWorkloads(
  apps: k8s.AppsV1Api,
  service: k8s.V1Service,
): Promise<ServingWorkload[]> {
  const namespace = service.metadata?.namespace ?? 'default';
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) {
    throw new ExposeRefusedError(
      `${namespace}/${service.metadata?.name ?? ''} has no selector, so no pod of Localizer's can take its traffic. Expose a service that selects pods.`,
    );
  }
  const [deployments, statefulSets, replicaSets] = await Promise.all([
    apps.listNamespacedDeployment({ namespace }),
    apps.listNamespacedStatefulSet({ namespace }),
    apps.listNamespacedReplicaSet({ namespace }),
  ]);
  const found: ServingWorkload[] = [];
  const add = (kind: WorkloadKind, items: ScalableObject[]): void => {
    for (const item of items) {
      if (!selects(selector, item.spec?.template?.metadata?.labels)) continue;
      if (kind === 'ReplicaSet' && item.metadata?.ownerReferences?.some((ref) => ref.controller)) continue;
      found.push({
        kind,
        namespace,
        name: item.metadata?.name ?? '',
        replicas: item.spec?.replicas ?? 1,
        ...(item.spec?.template ? { template: item.spec.template } : {}),
      });
    }
  };
  add('Deployment', deployments.items);
  add('StatefulSet', statefulSets.items);
  add('ReplicaSet', replicaSets.items);
  return found;
}

/** Refuses when a HorizontalPodAutoscaler targets one of `workloads`: it would scale it back up. */
export async function refuseAutoscaled(
  autoscaling: k8s.AutoscalingV2Api,
  workloads: readonly ServingWorkload[],
): Promise<void> {
  const namespaces = [...new Set(workloads.map((w) => w.namespace))];
  for (const namespace of namespaces) {
    const autoscalers = await autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace });
    for (const hpa of autoscalers.items) {
      const target = hpa.spec.scaleTargetRef;
      const workload = workloads.find(
        (w) => w.namespace === namespace && w.kind === target.kind && w.name === target.name,
      );
      if (workload) {
        throw new ExposeRefusedError(
          `${workload.kind} ${namespace}/${workload.name} is scaled by the HorizontalPodAutoscaler ${hpa.metadata?.name ?? ''}, which would bring its pods back while the service points at your laptop. Remove or pause that autoscaler, then expose again.`,
        );
      }
    }
  }
}

async function read(apps: k8s.AppsV1Api, workload: ServingWorkload): Promise<ScalableObject> {
  const { namespace, name } = workload;
  if (workload.kind === 'Deployment') return apps.readNamespacedDeployment({ namespace, name });
  if (workload.kind === 'StatefulSet') return apps.readNamespacedStatefulSet({ namespace, name });
  return apps.readNamespacedReplicaSet({ namespace, name });
}

async function mergePatch(apps: k8s.AppsV1Api, workload: ServingWorkload, body: object): Promise<void> {
  const { namespace, name } = workload;
  const options = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  if (workload.kind === 'Deployment')
    await apps.patchNamespacedDeployment({ namespace, name, body }, options);
  else if (workload.kind === 'StatefulSet')
    await apps.patchNamespacedStatefulSet({ namespace, name, body }, options);
  else await apps.patchNamespacedReplicaSet({ namespace, name, body }, options);
}

/**
 * Scales each workload to zero, recording its replicas and owner in the same patch (guarded by
 * resourceVersion, so a concurrent expose from elsewhere fails instead of being overwritten).
 * Refuses a workload another owner already scaled down.
 */
export async function scaleDown(
  apps: k8s.AppsV1Api,
  workloads: readonly ServingWorkload[],
  owner: ExposeOwner,
): Promise<void> {
  for (const workload of workloads) {
    const current = await read(apps, workload);
    const existing = current.metadata?.annotations?.[annotations.owner];
    if (existing && current.metadata?.annotations?.[annotations.session] !== owner.session) {
      throw new ExposeRefusedError(
        `${workload.kind} ${workload.namespace}/${workload.name} is already exposed by ${existing}. Ask them to stop, or run \`localizer cleanup --force\` if that expose is abandoned.`,
      );
    }
    if (existing) continue;
    await mergePatch(apps, workload, {
      metadata: {
        resourceVersion: current.metadata?.resourceVersion,
        annotations: {
          [annotations.owner]: owner.owner,
          [annotations.session]: owner.session,
          [annotations.originalReplicas]: String(current.spec?.replicas ?? 1),
        },
      },
      spec: { replicas: 0 },
    });
  }
}

/**
 * Puts back the recorded replicas and removes the annotations. Safe to call again (idempotent).
 * Given a session, it touches only what that session scaled down.
 */
export async function restore(
  apps: k8s.AppsV1Api,
  workloads: readonly ServingWorkload[],
  session?: string,
): Promise<void> {
  for (const workload of workloads) {
    const current = await read(apps, workload);
    const recorded = current.metadata?.annotations?.[annotations.originalReplicas];
    if (recorded === undefined) continue;
    if (session !== undefined && current.metadata?.annotations?.[annotations.session] !== session) continue;
    const replicas = Number(recorded);
    await mergePatch(apps, workload, {
      metadata: {
        annotations: {
          [annotations.owner]: null,
          [annotations.session]: null,
          [annotations.originalReplicas]: null,
        },
      },
      spec: { replicas: Number.isInteger(replicas) && replicas >= 0 ? replicas : 1 },
    });
  }
}

export interface WorkloadReadiness {
  workload: ServingWorkload;
  ready: number;
  wanted: number;
}

/** How many of each workload's pods are ready, against the replicas it was restored to. */
export async function readiness(
  apps: k8s.AppsV1Api,
  workloads: readonly ServingWorkload[],
): Promise<WorkloadReadiness[]> {
  return Promise.all(
    workloads.map(async (workload) => {
      const current = await read(apps, workload);
      return {
        workload,
        ready: current.status?.readyReplicas ?? 0,
        wanted: current.spec?.replicas ?? workload.replicas,
      };
    }),
  );
}
