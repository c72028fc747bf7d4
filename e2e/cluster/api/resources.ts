/** The resource types the test cluster serves, with the discovery facts kubectl reads. */

export interface ResourceType {
  group: string;
  version: string;
  /** Plural, lower case: the path segment. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: readonly string[];
  /** Subresources, each with the kind it answers with. */
  subresources: Record<string, { kind: string; group?: string; version?: string; verbs: readonly string[] }>;
  categories?: string[];
}

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;
const scaleSubresource = {
  scale: { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
  status: { kind: '', verbs: ['get', 'patch', 'update'] },
};

function define(
  group: string,
  version: string,
  resource: string,
  kind: string,
  options: Partial<
    Pick<ResourceType, 'namespaced' | 'shortNames' | 'subresources' | 'verbs' | 'categories'>
  > = {},
): ResourceType {
  return {
    group,
    version,
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced: options.namespaced ?? true,
    shortNames: options.shortNames ?? [],
    verbs: options.verbs ?? allVerbs,
    subresources: options.subresources ?? {},
    ...(options.categories ? { categories: options.categories } : {}),
  };
}

export const resourceTypes: readonly ResourceType[] = [
  define('', 'v1', 'namespaces', 'Namespace', {
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: { status: { kind: '', verbs: ['get', 'patch', 'update'] } },
  }),
  define('', 'v1', 'services', 'Service', {
    shortNames: ['svc'],
    categories: ['all'],
    subresources: { status: { kind: '', verbs: ['get', 'patch', 'update'] } },
  }),
  define('', 'v1', 'endpoints', 'Endpoints', { shortNames: ['ep'] }),
  define('', 'v1', 'pods', 'Pod', {
    shortNames: ['po'],
    categories: ['all'],
    subresources: {
      status: { kind: '', verbs: ['get', 'patch', 'update'] },
      portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      log: { kind: '', verbs: ['get'] },
    },
  }),
  define('', 'v1', 'secrets', 'Secret'),
  define('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
  define('', 'v1', 'events', 'Event', { shortNames: ['ev'] }),
  define('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
  define('apps', 'v1', 'deployments', 'Deployment', {
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: scaleSubresource,
  }),
  define('apps', 'v1', 'replicasets', 'ReplicaSet', {
    shortNames: ['rs'],
    categories: ['all'],
    subresources: scaleSubresource,
  }),
  define('apps', 'v1', 'statefulsets', 'StatefulSet', {
    shortNames: ['sts'],
    categories: ['all'],
    subresources: scaleSubresource,
  }),
  define('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
  // Answered, not stored (`self-reviews.ts`): may I do this, what may I do, who am I?
  define('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', {
    namespaced: false,
    verbs: ['create'],
  }),
  define('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', 'SelfSubjectRulesReview', {
    namespaced: false,
    verbs: ['create'],
  }),
  define('authentication.k8s.io', 'v1', 'selfsubjectreviews', 'SelfSubjectReview', {
    namespaced: false,
    verbs: ['create'],
  }),
  define('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', {
    shortNames: ['hpa'],
    categories: ['all'],
    subresources: { status: { kind: '', verbs: ['get', 'patch', 'update'] } },
  }),
];

/** Groups in the order discovery lists them; autoscaling/v1 exists only to carry `Scale`. */
export const apiGroups: readonly { name: string; versions: string[] }[] = [
  { name: 'apps', versions: ['v1'] },
  { name: 'authorization.k8s.io', versions: ['v1'] },
  { name: 'autoscaling', versions: ['v2', 'v1'] },
  { name: 'discovery.k8s.io', versions: ['v1'] },
];

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** Key used by the store and RBAC: `deployments.apps`, `pods`. */
export function resourceKey(type: ResourceType): string {
  return type.group ? `${type.resource}.${type.group}` : type.resource;
}

export function findResourceType(group: string, version: string, resource: string): ResourceType | undefined {
  return resourceTypes.find((t) => t.group === group && t.version === version && t.resource === resource);
}

export function resourceTypeOfKind(kind: string): ResourceType {
  const type = resourceTypes.find((t) => t.kind === kind);
  if (!type) throw new Error(`The test cluster has no resource of kind ${kind}`);
  return type;
}
