/**
 * Finding and undoing what an expose left behind when its process died: Services still taken
 * over (their own selector put back), workloads still scaled to zero (restored to their recorded
 * replicas), SSH pods and Secrets (deleted). Runs when an expose starts and on
 * `localizer cleanup`. Exposes that are still running (this process's, or another live process's
 * on this machine) are left alone, and so is anything another owner made, unless forced.
 */
import * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../kube/api-errors';
import { listEverywhere } from '../kube/list-everywhere';
import { isProcessAlive, readRecords, removeRecord } from './expose-records';
import { labels, podAnnotations } from './ssh-pod';
import { localizerKeys } from '../kube/localizer-keys';
import { describeSelector, giveBack, originalSelectorOf } from './service-takeover';
import { annotations, restore, type ServingWorkload, type WorkloadKind } from './workload-scaler';
import { cleanUpRouters } from './router/router-leftovers';
import type { ClusterApis } from '../kube/cluster-apis';

/** The API clients leftovers are found and undone with. */
export type KubeApis = Pick<ClusterApis, 'core' | 'apps'>;

export interface CleanupOptions {
  /** `user@host`: whose leftovers these are. */
  owner: string;
  stateDirectory: string;
  /** Sessions running in this process. */
  liveSessions: ReadonlySet<string>;
  /** Also clean up what other owners left (an abandoned expose from another machine). */
  force?: boolean;
  /** Where to look when the user may not list cluster-wide. */
  fallbackNamespaces?: readonly string[];
}

export interface CleanupReport {
  /** What was put back or deleted, one line each, e.g. `restored Deployment web/api to 2 replicas`. */
  done: string[];
  /** What was left alone and why. */
  skipped: string[];
  /** What could not be undone, with the server's words. */
  failed: string[];
}

interface Found {
  session: string;
  owner: string;
  namespace: string;
}

/** Whether the router a Service names is still there (unknown counts as there). */
async function routerExists(core: k8s.CoreV1Api, namespace: string, name: string): Promise<boolean> {
  try {
    await core.readNamespacedConfigMap({ namespace, name });
    return true;
  } catch (error) {
    return errorStatus(error) !== 404;
  }
}

export async function cleanUpLeftovers(apis: KubeApis, options: CleanupOptions): Promise<CleanupReport> {
  const report: CleanupReport = { done: [], skipped: [], failed: [] };
  const records = readRecords(options.stateDirectory);
  const live = new Set(options.liveSessions);
  for (const record of records)
    if (record.pid !== process.pid && isProcessAlive(record.pid)) live.add(record.session);
  const namespaces = [
    ...new Set([...records.map((r) => r.namespace), ...(options.fallbackNamespaces ?? [])]),
  ];
  const selector = { labelSelector: labels.session };

  const [services, pods, secrets, deployments, statefulSets, replicaSets] = await Promise.all([
    listEverywhere(
      () => apis.core.listServiceForAllNamespaces(),
      (namespace) => apis.core.listNamespacedService({ namespace }),
      namespaces,
    ),
    listEverywhere(
      () => apis.core.listPodForAllNamespaces(selector),
      (namespace) => apis.core.listNamespacedPod({ namespace, ...selector }),
      namespaces,
    ),
    listEverywhere(
      () => apis.core.listSecretForAllNamespaces(selector),
      (namespace) => apis.core.listNamespacedSecret({ namespace, ...selector }),
      namespaces,
    ),
    listEverywhere(
      () => apis.apps.listDeploymentForAllNamespaces(),
      (namespace) => apis.apps.listNamespacedDeployment({ namespace }),
      namespaces,
    ),
    listEverywhere(
      () => apis.apps.listStatefulSetForAllNamespaces(),
      (namespace) => apis.apps.listNamespacedStatefulSet({ namespace }),
      namespaces,
    ),
    listEverywhere(
      () => apis.apps.listReplicaSetForAllNamespaces(),
      (namespace) => apis.apps.listNamespacedReplicaSet({ namespace }),
      namespaces,
    ),
  ]);

  /** Whether this leftover is ours to undo; says why not in the report otherwise. */
  const mayUndo = (found: Found, what: string, by = 'expose'): boolean => {
    if (live.has(found.session)) return false;
    if (found.owner !== options.owner && !options.force) {
      report.skipped.push(
        `${what} belongs to ${found.owner || 'an unknown owner'}'s ${by}; run \`localizer cleanup --force\` if it is abandoned`,
      );
      return false;
    }
    return true;
  };

  const failedSessions = new Set<string>();
  // Services first: a Service given back routes to its own pods before the SSH pod goes.
  // A record's Service is read by name too: an account may get and patch a Service it may not
  // list, and a Service left taken over must never be lost sight of.
  const seenServices = new Set(
    services.map((svc) => `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`),
  );
  for (const record of records) {
    if (live.has(record.session) || record.mode !== 'takeover') continue;
    if (seenServices.has(`${record.namespace}/${record.service}`)) continue;
    try {
      services.push(
        await apis.core.readNamespacedService({ namespace: record.namespace, name: record.service }),
      );
    } catch (error) {
      if (errorStatus(error) === 404) continue;
      failedSessions.add(record.session);
      report.failed.push(
        `could not read Service ${record.namespace}/${record.service} to give it its selector back: ${describeError(error)}`,
      );
    }
  }
  for (const service of services) {
    const meta = service.metadata;
    // A router's Service is shared by several developers' exposes: `cleanUpRouters` decides,
    // as long as the router's ConfigMap is there; without it, it is a takeover left behind.
    const router = meta?.annotations?.[localizerKeys.router];
    if (router && meta.namespace && (await routerExists(apis.core, meta.namespace, router))) continue;
    const original = originalSelectorOf(service);
    // Ours by the annotation, or by the selector alone where the annotation was lost.
    const session =
      meta?.annotations?.[localizerKeys.session] ?? service.spec?.selector?.[localizerKeys.intercept];
    if (!meta?.name || !meta.namespace || !session) continue;
    const found = {
      session,
      owner: meta.annotations?.[localizerKeys.owner] ?? '',
      namespace: meta.namespace,
    };
    const what = `Service ${meta.namespace}/${meta.name}`;
    if (!mayUndo(found, what)) continue;
    try {
      const given = await giveBack(apis.core, { namespace: meta.namespace, name: meta.name }, session);
      if (given.outcome === 'restored')
        report.done.push(`gave ${what} its own selector back (${describeSelector(original)})`);
      else if (given.outcome === 'changed')
        report.done.push(
          `removed the takeover's record from ${what}, whose selector someone else had changed (left as ${describeSelector(given.service.spec?.selector)})`,
        );
    } catch (error) {
      failedSessions.add(session);
      report.failed.push(`could not give ${what} its selector back: ${describeError(error)}`);
    }
  }

  const scaled: readonly (readonly [
    WorkloadKind,
    k8s.V1Deployment | k8s.V1StatefulSet | k8s.V1ReplicaSet,
  ])[] = [
    ...deployments.map((d) => ['Deployment', d] as const),
    ...statefulSets.map((s) => ['StatefulSet', s] as const),
    ...replicaSets.map((r) => ['ReplicaSet', r] as const),
  ];
  for (const [kind, object] of scaled) {
    const meta = object.metadata;
    const session = meta?.annotations?.[annotations.session];
    if (!meta?.name || !meta.namespace || !session) continue;
    const found = { session, owner: meta.annotations?.[annotations.owner] ?? '', namespace: meta.namespace };
    const what = `${kind} ${meta.namespace}/${meta.name}`;
    if (!mayUndo(found, what)) continue;
    const workload: ServingWorkload = { kind, namespace: meta.namespace, name: meta.name, replicas: 0 };
    try {
      await restore(apis.apps, [workload], session);
      report.done.push(
        `restored ${what} to ${meta.annotations?.[annotations.originalReplicas] ?? '?'} replicas`,
      );
    } catch (error) {
      failedSessions.add(session);
      report.failed.push(`could not restore ${what}: ${describeError(error)}`);
    }
  }

  // An account that may not list Secrets (an expose needs only to create and delete them) still
  // finds them: each SSH pod names its Secret as its owner, and each record names the Secret.
  const listed = new Set(
    secrets.map((secret) => `${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`),
  );
  const unlisted = new Map<string, k8s.V1Secret>();
  const addUnlisted = (namespace: string, name: string, session: string, owner: string): void => {
    const key = `${namespace}/${name}`;
    if (listed.has(key) || unlisted.has(key)) return;
    unlisted.set(key, {
      metadata: {
        name,
        namespace,
        labels: { [labels.session]: session },
        annotations: { [podAnnotations.owner]: owner },
      },
    });
  };
  for (const pod of pods) {
    const meta = pod.metadata;
    const secret = meta?.ownerReferences?.find((ref) => ref.kind === 'Secret' && ref.controller);
    const session = meta?.labels?.[labels.session];
    if (meta?.namespace && secret && session)
      addUnlisted(meta.namespace, secret.name, session, meta.annotations?.[podAnnotations.owner] ?? '');
  }
  for (const record of records) {
    if (record.objectName) addUnlisted(record.namespace, record.objectName, record.session, options.owner);
  }
  const created: readonly (readonly ['Pod' | 'Secret', k8s.V1Pod | k8s.V1Secret, boolean])[] = [
    ...pods.map((p) => ['Pod', p, true] as const),
    ...secrets.map((s) => ['Secret', s, true] as const),
    // Not seen in a list: deleted by name, and quietly when it is already gone.
    ...[...unlisted.values()].map((s) => ['Secret', s, false] as const),
  ];
  for (const [kind, object, seen] of created) {
    const meta = object.metadata;
    const session = meta?.labels?.[labels.session];
    if (!meta?.name || !meta.namespace || !session) continue;
    // A record's Secret of a live expose, or another owner's, is left without a word.
    if (
      !seen &&
      (live.has(session) || (!options.force && meta.annotations?.[podAnnotations.owner] !== options.owner))
    )
      continue;
    const found = {
      session,
      owner: meta.annotations?.[podAnnotations.owner] ?? '',
      namespace: meta.namespace,
    };
    // Its Service could not be given back: its pod and record stay, for the next cleanup.
    if (failedSessions.has(session)) continue;
    const relay = meta.labels?.[localizerKeys.role] === 'relay';
    const what = `${kind === 'Pod' ? (relay ? 'relay pod' : 'SSH pod') : 'Secret'} ${meta.namespace}/${meta.name}`;
    if (!mayUndo(found, what, relay ? 'connect' : 'expose')) continue;
    try {
      const target = { namespace: meta.namespace, name: meta.name };
      if (kind === 'Pod') await apis.core.deleteNamespacedPod(target);
      else await apis.core.deleteNamespacedSecret(target);
      report.done.push(`deleted ${what}`);
    } catch (error) {
      if (errorStatus(error) === 404) continue;
      failedSessions.add(session);
      report.failed.push(`could not delete ${what}: ${describeError(error)}`);
    }
  }

  await cleanUpRouters(apis.core, namespaces, report, options.force);

  // A record stays while something it describes could not be undone, so the next run tries again.
  for (const record of records) {
    if (!live.has(record.session) && !failedSessions.has(record.session))
      removeRecord(options.stateDirectory, record.session);
  }
  return report;
}
