/**
 * What an expose checks before it changes anything, so that what cannot work is refused with a
 * reason and a fix: the service exists and selects pods, the account may do what an expose does,
 * nobody else exposes it, no autoscaler would fight a scale-down (a takeover scales nothing), and
 * each asked port maps to one.
 */
import type * as k8s from '@kubernetes/client-node';
import type { ExposeMode } from '../../../shared/tunnel-status';
import { describeError, errorStatus } from '../kube/api-errors';
import { localizerKeys } from '../kube/localizer-keys';
import { resolveExposedPorts, type ExposedPort, type PortMapping } from './port-map';
import { labels } from './ssh-pod';
import { originalSelectorOf } from './service-takeover';
import { routerObjects } from './router/router-objects';
import { parseRouterState, stateKey, withRoute } from './router/router-state';
import { findServingWorkloads, refuseAutoscaled, type ServingWorkload } from './workload-scaler';
import { ExposeRefusedError } from './expose-refused-error';
import type { ClusterApis } from '../kube/cluster-apis';

/** The API groups an expose reads and changes; `authorization` asks what the account may do. */
/** The API clients an expose uses; without `authorization` its permissions are not asked first. */
export type SessionApis = Pick<ClusterApis, 'core' | 'apps' | 'autoscaling' | 'discovery'> &
  Partial<Pick<ClusterApis, 'authorization'>>;

/** `verb group resource[/subresource]`: one permission an expose needs in the service's namespace. */
type Permission = readonly [verb: string, group: string, resource: string, subresource?: string];

const commonNeeds: readonly Permission[] = [
  ['get', '', 'services'],
  ['list', '', 'pods'],
  ['get', '', 'pods'],
  ['create', '', 'pods'],
  ['delete', '', 'pods'],
  ['create', '', 'secrets'],
  ['delete', '', 'secrets'],
  ['create', '', 'pods', 'portforward'],
];

const takeoverNeeds: readonly Permission[] = [
  ...commonNeeds,
  ['patch', '', 'services'],
  ['list', 'discovery.k8s.io', 'endpointslices'],
];

/** What each mode needs, beyond which it cannot start or cannot undo itself. */
const needs: Record<ExposeMode, readonly Permission[]> = {
  takeover: takeoverNeeds,
  // The router: its ConfigMap (the shared routes), its origin Service and its pod.
  personal: [
    ...takeoverNeeds,
    ...(['get', 'create', 'update', 'delete'] as const).map((verb): Permission => [verb, '', 'configmaps']),
    ['create', '', 'services'],
    ['delete', '', 'services'],
  ],
  'scale-down': [
    ...commonNeeds,
    ...(['deployments', 'statefulsets', 'replicasets'] as const).flatMap((resource) =>
      (['get', 'list', 'patch'] as const).map((verb): Permission => [verb, 'apps', resource]),
    ),
  ],
};

/** `patch services`, `create pods/portforward`, `list endpointslices.discovery.k8s.io`. */
function describePermission([verb, group, resource, subresource]: Permission): string {
  return `${verb} ${resource}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
}

/**
 * Asks the API server (SelfSubjectAccessReview, which every account may) whether the account
 * may do all an expose in this mode does, and refuses naming each missing verb and resource,
 * before anything changes. Where the question cannot be asked, nothing is refused here: a
 * refusal then comes from the first call that needs it.
 */
async function refuseMissingPermissions(
  apis: SessionApis,
  namespace: string,
  mode: ExposeMode,
): Promise<void> {
  const authorization = apis.authorization;
  if (!authorization) return;
  const answers = await Promise.all(
    needs[mode].map(async (permission) => {
      const [verb, group, resource, subresource] = permission;
      const review = await authorization.createSelfSubjectAccessReview({
        body: {
          spec: {
            resourceAttributes: { namespace, verb, group, resource, ...(subresource ? { subresource } : {}) },
          },
        },
      });
      return { permission, allowed: review.status?.allowed === true };
    }),
  ).catch(() => undefined);
  const missing = (answers ?? []).filter((a) => !a.allowed).map((a) => describePermission(a.permission));
  if (missing.length === 0) return;
  throw new ExposeRefusedError(
    `Your account may not do all that ${{ takeover: 'an expose', 'scale-down': 'an expose with --scale-down', personal: 'a personal intercept (--header)' }[mode]} needs in namespace ${namespace}: it may not ${missing.join(', ')}. Nothing was changed. deploy/rbac.yaml has every permission an expose needs as a Role (\`kubectl apply -n ${namespace} -f deploy/rbac.yaml\`, bound to you with a RoleBinding); ask a cluster admin for it.`,
  );
}

export interface ExposeTarget {
  context: string;
  namespace: string;
  service: string;
}

export interface ExposePlan {
  service: k8s.V1Service;
  workloads: ServingWorkload[];
  /** The ports this expose carries to the laptop. */
  ports: ExposedPort[];
  /** A personal intercept: every TCP port of the Service (its router listens on each). */
  allPorts?: ExposedPort[];
  /** A personal intercept: the Service's own selector, also while a router holds it. */
  originalSelector?: Record<string, string>;
}

/** A refused request as an ExposeRefusedError naming what was being done and what to do. */
export function refusal(error: unknown, doing: string, namespace: string): Error {
  if (error instanceof ExposeRefusedError) return error;
  if (errorStatus(error) === 403) {
    return new ExposeRefusedError(
      `Your account may not ${doing}: ${describeError(error)}. Exposing needs get/list/watch/patch on services, get/list/watch on endpointslices and pods, create/delete on pods and secrets and create on pods/portforward in namespace ${namespace} (with --scale-down also get/list/patch on deployments, statefulsets and replicasets; with --header also get/list/create/update/delete on configmaps and create/delete on services); deploy/rbac.yaml has them as a Role. Ask a cluster admin for them.`,
    );
  }
  return new Error(`Could not ${doing}: ${describeError(error)}`);
}

async function readService(apis: SessionApis, target: ExposeTarget): Promise<k8s.V1Service> {
  const { namespace, service } = target;
  try {
    return await apis.core.readNamespacedService({ namespace, name: service });
  } catch (error) {
    if (errorStatus(error) === 404) {
      // Say which services there are: a typo is the usual cause, and the fix is one of these.
      const others = await apis.core
        .listNamespacedService({ namespace })
        .then((list) => list.items.map((s) => s.metadata?.name ?? '').filter(Boolean))
        .catch(() => undefined);
      const there =
        others === undefined
          ? ` Check the name with \`localizer list\` or \`kubectl get services -n ${namespace}\`.`
          : others.length === 0
            ? ` Namespace ${namespace} has no services (is it the right namespace and context?).`
            : ` Namespace ${namespace} has: ${others.sort().join(', ')}.`;
      throw new ExposeRefusedError(
        `There is no service ${namespace}/${service} in context ${target.context}.${there}`,
      );
    }
    throw refusal(error, `read service ${namespace}/${service}`, namespace);
  }
}

async function refuseIfExposed(
  apis: SessionApis,
  target: ExposeTarget,
  service: k8s.V1Service,
  personal = false,
): Promise<void> {
  const { namespace } = target;
  const name = `${namespace}/${target.service}`;
  const pods = await apis.core
    .listNamespacedPod({ namespace, labelSelector: labels.session })
    .catch((error: unknown) => {
      throw refusal(error, `list pods in namespace ${namespace}`, namespace);
    });
  // A terminating pod is an expose that was stopped: it no longer takes calls.
  const exposing = pods.items.filter(
    (pod) => pod.metadata?.annotations?.[localizerKeys.service] === name && !pod.metadata.deletionTimestamp,
  );
  const isPersonal = (pod: k8s.V1Pod): boolean =>
    pod.metadata?.annotations?.[localizerKeys.mode] === 'personal';
  const annotations = service.metadata?.annotations ?? {};
  const routedBy = annotations[localizerKeys.router];
  const intercepts = exposing.filter(isPersonal);
  const existing = exposing.find((pod) => !isPersonal(pod));
  // Personal intercepts share the Service's router (or wait while its first developer makes
  // it): theirs are no obstacle to another one.
  if (personal && !existing && (routedBy || intercepts.length > 0)) return;
  if (!personal && (routedBy || intercepts.length > 0)) {
    const holders = intercepts.map((pod) => pod.metadata?.annotations?.[localizerKeys.owner] ?? 'someone');
    throw new ExposeRefusedError(
      `${name} has personal intercepts (${[...new Set(holders)].join(', ') || `its router ${routedBy ?? ''}`}), and a takeover would take it from all of them. Expose with --header NAME=VALUE to add yours, or wait until they stop.`,
    );
  }
  if (existing) {
    const owner = existing.metadata?.annotations?.[localizerKeys.owner] ?? 'someone';
    throw new ExposeRefusedError(
      `${name} is already exposed by ${owner} (pod ${existing.metadata?.name ?? ''}). Stop that expose first (\`localizer expose ${name} --stop\`), or run \`localizer cleanup --force\` if it is abandoned.`,
    );
  }
  // Taken over by an expose whose pod is gone (it crashed): its selector is not the Service's own.
  if (annotations[localizerKeys.originalSelector]) {
    const owner = annotations[localizerKeys.owner] ?? 'someone';
    throw new ExposeRefusedError(
      `${name} is still taken over by ${owner}'s expose, whose process is gone (its selector points at that expose's pod). Run \`localizer cleanup\` (\`--force\` for another owner's) to give it its selector back, then expose again.`,
    );
  }
}

/**
 * A personal intercept's route checked against the router's before anything changes: another
 * header than the router's, a value someone holds (named) and a full router are refused.
 */
async function refuseTakenRoute(
  apis: SessionApis,
  target: ExposeTarget,
  header: { name: string; value: string },
): Promise<void> {
  const name = routerObjects(target.service).configMap;
  const configMap = await apis.core
    .readNamespacedConfigMap({ namespace: target.namespace, name })
    .catch(() => undefined);
  const state = parseRouterState(configMap?.data?.[stateKey]);
  if (!state || state.phase === 'closing') return;
  withRoute(
    state,
    { value: header.value, owner: '', session: '', pod: '', address: '', ports: {} },
    header.name,
    `${target.namespace}/${target.service}`,
  );
}

/**
 * The pod specs that say what the Service's named target ports mean: a takeover reads the pods
 * it selects now (it needs no access to workloads), a scale-down its workloads' templates.
 */
async function selectedPodSpecs(
  apis: SessionApis,
  service: k8s.V1Service,
  target: ExposeTarget,
  selector: Record<string, string> = service.spec?.selector ?? {},
): Promise<k8s.V1PodTemplateSpec[]> {
  if (Object.keys(selector).length === 0)
    throw new ExposeRefusedError(
      `${target.namespace}/${target.service} has no selector, so no pod of Localizer's can take its traffic. Expose a service that selects pods.`,
    );
  const pods = await apis.core
    .listNamespacedPod({
      namespace: target.namespace,
      labelSelector: Object.entries(selector)
        .map(([key, value]) => `${key}=${value}`)
        .join(','),
    })
    .catch((error: unknown) => {
      throw refusal(error, `list pods in namespace ${target.namespace}`, target.namespace);
    });
  return pods.items.flatMap((pod) => (pod.spec ? [{ metadata: pod.metadata, spec: pod.spec }] : []));
}

/** Every check, in order; rejects with the first refusal. Changes nothing in the cluster. */
export async function planExpose(
  apis: SessionApis,
  target: ExposeTarget,
  mappings: readonly PortMapping[],
  mode: ExposeMode = 'takeover',
  header?: { name: string; value: string },
): Promise<ExposePlan> {
  await refuseMissingPermissions(apis, target.namespace, mode);
  const service = await readService(apis, target);
  if (mode === 'personal') {
    // Its own selector, also while its router holds it (the router's pod is not what serves it).
    const routed = Boolean(service.metadata?.annotations?.[localizerKeys.router]);
    const originalSelector =
      (routed ? originalSelectorOf(service) : undefined) ?? service.spec?.selector ?? {};
    const specs = await selectedPodSpecs(apis, service, target, originalSelector);
    await refuseIfExposed(apis, target, service, true);
    if (header) await refuseTakenRoute(apis, target, header);
    return {
      service,
      workloads: [],
      ports: resolveExposedPorts(service, specs, mappings),
      allPorts: resolveExposedPorts(service, specs, []),
      originalSelector,
    };
  }
  if (mode === 'takeover') {
    // A takeover changes no workload, so it neither reads nor needs access to them.
    const specs = await selectedPodSpecs(apis, service, target);
    await refuseIfExposed(apis, target, service);
    return { service, workloads: [], ports: resolveExposedPorts(service, specs, mappings) };
  }
  const workloads = await findServingWorkloads(apis.apps, service).catch((error: unknown) => {
    throw refusal(error, `list the workloads in namespace ${target.namespace}`, target.namespace);
  });
  await refuseIfExposed(apis, target, service);
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
