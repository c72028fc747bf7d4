/**
 * Reads what a workload's container environment is made of (its pod template, a running pod,
 * the ConfigMaps and Secrets it names, the services for links) and resolves it as the kubelet
 * would. What the account may not read is named with the permission it lacks, and the rest still
 * resolves.
 */
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../kube/api-errors';
import { findServingWorkloads } from '../expose/workload-scaler';
import {
  EnvironmentError,
  resolveContainerEnvironment,
  type Readable,
  type ResolvedEnvironment,
} from './container-environment';
import { containerFiles, type VolumeFile } from './volume-files';
import type { ClusterApis } from '../kube/cluster-apis';

/** The API clients a workload's environment is read with. */
export type WorkloadApis = Pick<ClusterApis, 'core' | 'apps'>;

export interface EnvironmentTarget {
  context: string;
  namespace: string;
  /** `deploy/NAME`, `sts/NAME`, `pod/NAME`, or a Service's name. */
  workload: string;
  container?: string;
  /** Also read the files of its ConfigMap, Secret and downward-API volumes. */
  files?: boolean;
}

export interface WorkloadEnvironment extends ResolvedEnvironment {
  /** `Deployment web/orders`. */
  workload: string;
  container: string;
  /** The pod `fieldRef`s were read from, if one runs. */
  pod: string | null;
  /** The pod template's spec, for its volumes. */
  podSpec: k8s.V1PodSpec;
  /** `namespace/name` to cluster IP of the namespace's services, for rewriting. */
  clusterIps: Map<string, string>;
  /** With `files`: what the container's volumes hold. */
  files?: VolumeFile[];
}

const kinds: Record<string, 'Deployment' | 'StatefulSet' | 'Pod'> = {
  deploy: 'Deployment',
  deployment: 'Deployment',
  deployments: 'Deployment',
  sts: 'StatefulSet',
  statefulset: 'StatefulSet',
  statefulsets: 'StatefulSet',
  pod: 'Pod',
  pods: 'Pod',
  po: 'Pod',
};

function selectorText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

function notFound(what: string, target: EnvironmentTarget, listing: string): EnvironmentError {
  return new EnvironmentError(
    `There is no ${what} in namespace ${target.namespace} (context ${target.context}). \`kubectl get ${listing} -n ${target.namespace}\` lists them.`,
  );
}

function forbiddenMessage(error: unknown, verb: string, resource: string, namespace: string): string {
  return `your account may not ${verb} ${resource} in namespace ${namespace} (${describeError(error)}); it needs \`${verb}\` on \`${resource}\` there`;
}

interface Found {
  workload: string;
  template: k8s.V1PodTemplateSpec | undefined;
  selector: Record<string, string> | undefined;
  pod?: k8s.V1Pod;
}

async function findWorkload(apis: WorkloadApis, target: EnvironmentTarget): Promise<Found> {
  const { namespace } = target;
  const [prefix, name, extra] = target.workload.includes('/')
    ? target.workload.split('/')
    : [undefined, target.workload];
  if (!name || extra !== undefined || (prefix !== undefined && !(prefix in kinds)))
    throw new EnvironmentError(
      `${JSON.stringify(target.workload)} is not a workload: name deploy/NAME, sts/NAME, pod/NAME or a service, e.g. \`localizer env web/deploy/api\`.`,
    );
  const kind = prefix ? kinds[prefix] : undefined;
  const read = async <T>(call: () => Promise<T>, what: string, listing: string): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (errorStatus(error) === 404) throw notFound(what, target, listing);
      if (errorStatus(error) === 403)
        throw new EnvironmentError(
          `Cannot read ${what}: ${forbiddenMessage(error, 'get', listing, namespace)}.`,
        );
      throw error;
    }
  };
  if (kind === 'Pod') {
    const pod = await read(() => apis.core.readNamespacedPod({ namespace, name }), `pod ${name}`, 'pods');
    return { workload: `Pod ${namespace}/${name}`, template: { spec: pod.spec }, selector: undefined, pod };
  }
  if (kind === 'Deployment' || kind === 'StatefulSet') {
    const object =
      kind === 'Deployment'
        ? await read(
            () => apis.apps.readNamespacedDeployment({ namespace, name }),
            `deployment ${name}`,
            'deployments',
          )
        : await read(
            () => apis.apps.readNamespacedStatefulSet({ namespace, name }),
            `statefulset ${name}`,
            'statefulsets',
          );
    return {
      workload: `${kind} ${namespace}/${name}`,
      template: object.spec?.template,
      selector: object.spec?.selector.matchLabels,
    };
  }
  const service = await read(
    () => apis.core.readNamespacedService({ namespace, name }),
    `service ${name} (for a workload, write deploy/${name}, sts/${name} or pod/${name})`,
    'services',
  );
  const serving = await findServingWorkloads(apis.apps, service).catch((error: unknown) => {
    throw new EnvironmentError(error instanceof Error ? error.message : String(error));
  });
  const first = serving[0];
  if (!first)
    throw new EnvironmentError(
      `No Deployment or StatefulSet in ${namespace} serves service ${name}; name the workload itself (deploy/NAME, pod/NAME).`,
    );
  return {
    workload: `${first.kind} ${namespace}/${first.name}`,
    template: first.template,
    selector: service.spec?.selector,
  };
}

/** A running pod of the workload (a Ready one first), for what `fieldRef`s read. */
async function runningPod(
  apis: WorkloadApis,
  namespace: string,
  selector: Record<string, string> | undefined,
) {
  if (!selector || Object.keys(selector).length === 0) return undefined;
  const pods = await apis.core
    .listNamespacedPod({ namespace, labelSelector: selectorText(selector) })
    .catch(() => ({ items: [] as k8s.V1Pod[] }));
  const live = pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  const ready = live.find((p) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  return ready ?? live[0];
}

function decode(data: Record<string, string> | undefined): Record<string, Buffer> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
  );
}

/** A read object's data as text, for variables. */
function asText(read: Readable<Record<string, Buffer>>): Readable<Record<string, string>> {
  if (!('found' in read)) return read;
  return { found: Object.fromEntries(Object.entries(read.found).map(([k, v]) => [k, v.toString('utf8')])) };
}

export async function readWorkloadEnvironment(
  apis: WorkloadApis,
  target: EnvironmentTarget,
): Promise<WorkloadEnvironment> {
  const { namespace } = target;
  const found = await findWorkload(apis, target);
  const podSpec = found.template?.spec;
  if (!podSpec) throw new EnvironmentError(`${found.workload} has no pod template.`);
  const containers = podSpec.containers;
  const container = target.container ? containers.find((c) => c.name === target.container) : containers[0];
  if (!container)
    throw new EnvironmentError(
      `${found.workload} has no container ${JSON.stringify(target.container ?? '')}; its containers are ${containers.map((c) => c.name).join(', ')}. Pick one with --container.`,
    );
  const pod = found.pod ?? (await runningPod(apis, namespace, found.selector));

  const readObject = (
    kind: 'configmaps' | 'secrets',
    name: string,
  ): Promise<Readable<Record<string, Buffer>>> =>
    (kind === 'configmaps'
      ? apis.core.readNamespacedConfigMap({ namespace, name }).then((c) => ({
          ...Object.fromEntries(Object.entries(c.data ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
          ...decode(c.binaryData),
        }))
      : apis.core.readNamespacedSecret({ namespace, name }).then((s) => decode(s.data))
    ).then(
      (data): Readable<Record<string, Buffer>> => ({ found: data }),
      (error: unknown): Readable<Record<string, Buffer>> => {
        if (errorStatus(error) === 404) return { missing: true };
        if (errorStatus(error) === 403) return { forbidden: forbiddenMessage(error, 'get', kind, namespace) };
        throw error;
      },
    );
  // Read every object the container names first: the resolver itself is synchronous.
  const named = new Set<string>();
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef?.name) named.add(`configmaps/${from.configMapRef.name}`);
    if (from.secretRef?.name) named.add(`secrets/${from.secretRef.name}`);
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom;
    if (ref?.configMapKeyRef?.name) named.add(`configmaps/${ref.configMapKeyRef.name}`);
    if (ref?.secretKeyRef?.name) named.add(`secrets/${ref.secretKeyRef.name}`);
  }
  if (target.files)
    for (const volume of podSpec.volumes ?? []) {
      if (volume.configMap?.name) named.add(`configmaps/${volume.configMap.name}`);
      if (volume.secret?.secretName) named.add(`secrets/${volume.secret.secretName}`);
    }
  const unlisted: { name: string; reason: string }[] = [];
  // Every read at once: one round trip of waiting, however many objects the spec names.
  const [objects, services, master] = await Promise.all([
    Promise.all(
      [...named].map(async (key) => {
        const [kind, name] = key.split('/') as ['configmaps' | 'secrets', string];
        return [key, await readObject(kind, name)] as const;
      }),
    ).then((entries) => new Map(entries)),
    apis.core
      .listNamespacedService({ namespace })
      .then((list) => list.items)
      .catch((error: unknown) => {
        if (errorStatus(error) !== 403) throw error;
        unlisted.push({
          name: '*_SERVICE_HOST, *_PORT…',
          reason: `the service links: ${forbiddenMessage(error, 'list', 'services', namespace)}`,
        });
        return [] as k8s.V1Service[];
      }),
    apis.core
      .readNamespacedService({ namespace: 'default', name: 'kubernetes' })
      .then((s) => [s])
      .catch(() => [] as k8s.V1Service[]),
  ]);
  const environment = resolveContainerEnvironment(namespace, podSpec, container, {
    configMap: (name) => asText(objects.get(`configmaps/${name}`) ?? { missing: true }),
    secret: (name) => asText(objects.get(`secrets/${name}`) ?? { missing: true }),
    pod,
    services: [...services, ...master],
  });
  const files = target.files
    ? containerFiles(podSpec, container, {
        configMap: (name) => objects.get(`configmaps/${name}`) ?? { missing: true },
        secret: (name) => objects.get(`secrets/${name}`) ?? { missing: true },
        pod,
      })
    : undefined;
  return {
    ...environment,
    unresolved: [...environment.unresolved, ...unlisted, ...(files?.unresolved ?? [])],
    ...(files ? { files: files.files } : {}),
    clusterIps: new Map(
      services.flatMap((s) =>
        s.spec?.clusterIP && s.spec.clusterIP !== 'None'
          ? [[`${s.metadata?.namespace ?? namespace}/${s.metadata?.name ?? ''}`, s.spec.clusterIP] as const]
          : [],
      ),
    ),
    workload: found.workload,
    container: container.name,
    pod: pod?.metadata?.name ?? null,
    podSpec,
  };
}
