/**
 * Deployment, ReplicaSet and StatefulSet controllers: a Deployment owns one ReplicaSet per pod
 * template, a ReplicaSet keeps `replicas` pods, and a StatefulSet keeps pods `<name>-0..n-1` with
 * stable hostnames under its headless service, created in order (OrderedReady) or all at once.
 */
import { createHash } from 'node:crypto';
import { field, type KubeObject, type OwnerReference, type Pod, type Workload } from '../api/objects';
import type { Registry } from '../api/registry';
import { resourceTypeOfKind } from '../api/resources';
import { labelSelectorMatcher } from '../api/selectors';
import type { ObjectStore } from '../api/store';
import { createControllerLoop, type Controller } from './controller-loop';

const pods = resourceTypeOfKind('Pod');
const deployments = resourceTypeOfKind('Deployment');
const replicaSets = resourceTypeOfKind('ReplicaSet');
const statefulSets = resourceTypeOfKind('StatefulSet');

function ownerReference(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion ?? '',
    kind: owner.kind ?? '',
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

function ownedBy(object: KubeObject, owner: KubeObject): boolean {
  return (object.metadata.ownerReferences ?? []).some(
    (ref) => ref.uid === owner.metadata.uid && ref.controller,
  );
}

/** The pod's Ready condition, whether or not it is being deleted (EndpointSlice `serving`). */
function podReadyCondition(pod: KubeObject): boolean {
  const conditions = (field(pod, 'status', 'conditions') ?? []) as { type: string; status: string }[];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Ready and not being deleted: what counts for endpoints and replica counts. */
function isReady(pod: KubeObject): boolean {
  return !pod.metadata.deletionTimestamp && podReadyCondition(pod);
}

function templateHash(template: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(template)).digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...digest.subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join('');
}

function writeStatus(store: ObjectStore, workload: Workload, status: Record<string, unknown>): void {
  const type = resourceTypeOfKind(workload.kind ?? '');
  const next = { ...workload, status: { ...workload.status, ...status } };
  store.update(type, next);
}

function podFromTemplate(
  workload: Workload,
  extra: { name?: string; generateName?: string; labels?: Record<string, string> },
): KubeObject {
  const template = structuredClone(workload.spec.template);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(extra.name ? { name: extra.name } : { generateName: extra.generateName }),
      namespace: workload.metadata.namespace,
      labels: { ...template.metadata?.labels, ...extra.labels },
      annotations: { ...template.metadata?.annotations },
      ownerReferences: [ownerReference(workload)],
    },
    spec: template.spec as unknown as Record<string, unknown>,
  };
}

function reconcileDeployments(store: ObjectStore, registry: Registry): void {
  for (const deployment of store.list(deployments) as Workload[]) {
    if (deployment.metadata.deletionTimestamp) continue;
    const namespace = deployment.metadata.namespace;
    const hash = templateHash(deployment.spec.template);
    const owned = (store.list(replicaSets, namespace) as Workload[]).filter((rs) => ownedBy(rs, deployment));
    let current = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const replicas = deployment.spec.replicas ?? 1;
    if (!current) {
      const template = structuredClone(deployment.spec.template);
      template.metadata = {
        ...template.metadata,
        labels: { ...template.metadata?.labels, 'pod-template-hash': hash },
      };
      current = registry.create(replicaSets, namespace, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${deployment.metadata.name ?? ''}-${hash}`,
          namespace,
          labels: { ...deployment.spec.template.metadata?.labels, 'pod-template-hash': hash },
          annotations: { 'deployment.kubernetes.io/revision': String(owned.length + 1) },
          ownerReferences: [ownerReference(deployment)],
        },
        spec: {
          replicas,
          selector: {
            ...deployment.spec.selector,
            matchLabels: { ...deployment.spec.selector.matchLabels, 'pod-template-hash': hash },
          },
          template,
        },
      }) as Workload;
    } else if (current.spec.replicas !== replicas) {
      current.spec.replicas = replicas;
      store.update(replicaSets, current, { bumpGeneration: true });
    }
    // Old templates scale straight to zero: a Recreate rollout, which is all tests need.
    for (const old of owned) {
      if (old.metadata.uid !== current.metadata.uid && old.spec.replicas !== 0) {
        old.spec.replicas = 0;
        store.update(replicaSets, old, { bumpGeneration: true });
      }
    }
    const all = owned.some((rs) => rs.metadata.uid === current.metadata.uid) ? owned : [...owned, current];
    const count = (key: string): number =>
      all.reduce((sum, rs) => sum + ((field(rs, 'status', key) as number | undefined) ?? 0), 0);
    const ready = count('readyReplicas');
    const total = count('replicas');
    const updated = (field(current, 'status', 'replicas') as number | undefined) ?? 0;
    writeStatus(store, deployment, {
      observedGeneration: deployment.metadata.generation,
      replicas: total,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(total - ready > 0 ? { unavailableReplicas: total - ready } : { unavailableReplicas: undefined }),
      conditions: [
        {
          type: 'Available',
          status: ready >= replicas ? 'True' : 'False',
          reason: ready >= replicas ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          message:
            ready >= replicas
              ? 'Deployment has minimum availability.'
              : 'Deployment does not have minimum availability.',
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: updated === replicas && ready === replicas ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          message: `ReplicaSet "${current.metadata.name ?? ''}" ${updated === replicas && ready === replicas ? 'has successfully progressed' : 'is progressing'}.`,
        },
      ],
    });
  }
}

function reconcileReplicaSets(store: ObjectStore, registry: Registry): void {
  for (const replicaSet of store.list(replicaSets) as Workload[]) {
    if (replicaSet.metadata.deletionTimestamp) continue;
    const namespace = replicaSet.metadata.namespace;
    const matches = labelSelectorMatcher(replicaSet.spec.selector);
    const owned = store
      .list(pods, namespace)
      .filter((pod) => ownedBy(pod, replicaSet) && matches(pod.metadata.labels));
    const alive = owned.filter((pod) => !pod.metadata.deletionTimestamp);
    const want = replicaSet.spec.replicas ?? 1;
    for (let i = alive.length; i < want; i++) {
      registry.create(
        pods,
        namespace,
        podFromTemplate(replicaSet, { generateName: `${replicaSet.metadata.name ?? ''}-` }),
      );
    }
    // Not-ready pods go first, then the newest, as the ReplicaSet controller prefers.
    const surplus = alive
      .sort(
        (a, b) =>
          Number(isReady(a)) - Number(isReady(b)) ||
          (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
      )
      .slice(0, Math.max(0, alive.length - want));
    for (const pod of surplus) registry.delete(pods, namespace, pod.metadata.name ?? '');
    const current = store
      .list(pods, namespace)
      .filter((pod) => ownedBy(pod, replicaSet) && !pod.metadata.deletionTimestamp);
    const ready = current.filter(isReady).length;
    writeStatus(store, replicaSet, {
      replicas: current.length,
      fullyLabeledReplicas: current.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: replicaSet.metadata.generation,
    });
  }
}

function reconcileStatefulSets(store: ObjectStore, registry: Registry): void {
  for (const set of store.list(statefulSets) as Workload[]) {
    if (set.metadata.deletionTimestamp) continue;
    const namespace = set.metadata.namespace;
    const name = set.metadata.name ?? '';
    const want = set.spec.replicas ?? 1;
    const owned = store.list(pods, namespace).filter((pod) => ownedBy(pod, set));
    const byOrdinal = new Map<number, KubeObject>();
    for (const pod of owned) {
      const ordinal = Number((pod.metadata.name ?? '').slice(name.length + 1));
      if (Number.isInteger(ordinal)) byOrdinal.set(ordinal, pod);
    }
    const ordered = set.spec.podManagementPolicy !== 'Parallel';
    for (let ordinal = 0; ordinal < want; ordinal++) {
      const existing = byOrdinal.get(ordinal);
      if (existing) {
        if (ordered && !isReady(existing)) break;
        continue;
      }
      const podName = `${name}-${ordinal}`;
      const pod = podFromTemplate(set, {
        name: podName,
        labels: {
          'statefulset.kubernetes.io/pod-name': podName,
          'apps.kubernetes.io/pod-index': String(ordinal),
        },
      }) as Pod;
      pod.spec.hostname = podName;
      if (set.spec.serviceName) pod.spec.subdomain = set.spec.serviceName;
      registry.create(pods, namespace, pod);
      if (ordered) break;
    }
    // Scale down from the highest ordinal, one at a time when ordered.
    const extra = [...byOrdinal.entries()]
      .filter(([ordinal, pod]) => ordinal >= want && !pod.metadata.deletionTimestamp)
      .sort((a, b) => b[0] - a[0]);
    for (const [, pod] of ordered ? extra.slice(0, 1) : extra)
      registry.delete(pods, namespace, pod.metadata.name ?? '');
    const current = store
      .list(pods, namespace)
      .filter((pod) => ownedBy(pod, set) && !pod.metadata.deletionTimestamp);
    const ready = current.filter(isReady).length;
    writeStatus(store, set, {
      observedGeneration: set.metadata.generation,
      replicas: current.length,
      readyReplicas: ready,
      currentReplicas: current.length,
      updatedReplicas: current.length,
      availableReplicas: ready,
    });
  }
}

/** The three workload controllers in one loop, since each feeds the next. */
export function createWorkloadControllers(
  store: ObjectStore,
  registry: Registry,
  log: (m: string) => void,
): Controller {
  return createControllerLoop(
    store,
    ['Deployment', 'ReplicaSet', 'StatefulSet', 'Pod'],
    () => {
      reconcileDeployments(store, registry);
      reconcileReplicaSets(store, registry);
      reconcileStatefulSets(store, registry);
    },
    log,
  );
}

export { isReady, podReadyCondition };
