/**
 * The API's verbs over the store, with the semantics clients rely on: optimistic concurrency,
 * status and scale subresources, generation bumps, graceful deletion of pods and namespaces, and
 * owner-reference cleanup.
 */
import { admit } from './admission';
import { ApiError, errors } from './status-errors';
import { field, isRecord, type KubeObject } from './objects';
import { applyPatch } from './patch';
import { apiVersionOf, resourceTypeOfKind, type ResourceType } from './resources';
import type { ObjectStore } from './store';

/** Cluster parts that take part in writes: IP allocation, pod status, process shutdown. */
export interface RegistryHooks {
  /** Called for new objects after validation; may fill fields (a service's clusterIP). */
  beforeCreate?: (type: ResourceType, object: KubeObject) => void;
  /** Called before a stored object's update; may refuse it by throwing an `ApiError`. */
  beforeUpdate?: (type: ResourceType, object: KubeObject, previous: KubeObject) => void;
  /** Called once an object has left the store. */
  afterRemove?: (type: ResourceType, object: KubeObject) => void;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
}

const namespaces = resourceTypeOfKind('Namespace');

/** Parses a JSON request body the way the API server reports bad ones. */
export function parseBody(raw: string, type: ResourceType): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw errors.badRequest(
      `the object provided is unrecognized (must be of type ${type.kind}): couldn't get version/kind; json parse error: ${detail} (${raw.slice(0, 64)})`,
    );
  }
}

function checkKind(type: ResourceType, body: unknown): KubeObject {
  if (!isRecord(body)) {
    throw errors.badRequest(
      `the object provided is unrecognized (must be of type ${type.kind}): Object 'Kind' is missing in '${JSON.stringify(body)}'`,
    );
  }
  const kind = body.kind;
  const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : '';
  if (typeof kind === 'string' && kind !== '' && kind !== type.kind) {
    throw errors.badRequest(
      `${kind} in version "${apiVersion}" cannot be handled as a ${type.kind}: no kind "${kind}" is registered for the URL of resource "${type.resource}"`,
    );
  }
  if (apiVersion !== '' && apiVersion !== apiVersionOf(type)) {
    throw errors.badRequest(
      `the API version in the data (${apiVersion}) does not match the expected API version (${apiVersionOf(type)})`,
    );
  }
  if (!isRecord(body.metadata)) body.metadata = {};
  return body as KubeObject;
}

export class Registry {
  constructor(
    private readonly store: ObjectStore,
    private readonly hooks: RegistryHooks = {},
  ) {}

  private requireNamespace(type: ResourceType, namespace: string | undefined, forCreate: boolean): void {
    if (!type.namespaced) return;
    const ns = this.store.get(namespaces, undefined, namespace ?? '');
    if (!ns) throw errors.notFound('namespaces', '', namespace ?? '');
    if (forCreate && field(ns, 'status', 'phase') === 'Terminating') {
      throw new ApiError(
        403,
        'Forbidden',
        `${type.resource} is forbidden: unable to create new content in namespace ${namespace ?? ''} because it is being terminated`,
      );
    }
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    return this.store.require(type, namespace, name);
  }

  list(type: ResourceType, namespace: string | undefined): KubeObject[] {
    return this.store.list(type, namespace);
  }

  /** With `dryRun`, admits the object as a create would and stores nothing (`?dryRun=All`). */
  create(
    type: ResourceType,
    namespace: string | undefined,
    body: unknown,
    options: { dryRun?: boolean } = {},
  ): KubeObject {
    const object = checkKind(type, body);
    if (type.namespaced) {
      if (object.metadata.namespace && object.metadata.namespace !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      object.metadata.namespace = namespace;
    } else {
      delete object.metadata.namespace;
    }
    delete object.metadata.resourceVersion;
    admit(type, object);
    this.requireNamespace(type, namespace, true);
    if (type.kind === 'Namespace') object.status = { phase: 'Active' };
    if (type.kind === 'Pod') object.status = { phase: 'Pending', qosClass: 'BestEffort' };
    if (options.dryRun) return object;
    this.hooks.beforeCreate?.(type, object);
    return this.store.create(type, object);
  }

  /** PUT: replaces the object, or only its status for the `status` subresource. */
  update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    subresource?: string,
  ): KubeObject {
    const incoming = checkKind(type, body);
    if (incoming.metadata.name && incoming.metadata.name !== name) {
      throw errors.badRequest(
        `the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    incoming.metadata.name = name;
    if (type.namespaced) incoming.metadata.namespace = namespace;
    const current = this.store.require(type, namespace, name);
    return this.write(type, current, incoming, subresource);
  }

  patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    contentType: string,
    subresource?: string,
  ): KubeObject {
    const current = this.store.require(type, namespace, name);
    const patched = applyPatch(current, body, contentType);
    const incoming = checkKind(type, patched);
    if (incoming.metadata.name !== name) {
      throw errors.badRequest(
        `the name of the object (${String(incoming.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    // A patch applies to what it read, unless it names a resourceVersion itself.
    if (!isRecord(body) || !isRecord(body.metadata) || body.metadata.resourceVersion === undefined) {
      incoming.metadata.resourceVersion = current.metadata.resourceVersion;
    }
    return this.write(type, current, incoming, subresource);
  }

  private write(
    type: ResourceType,
    current: KubeObject,
    incoming: KubeObject,
    subresource: string | undefined,
  ): KubeObject {
    const hasStatus = 'status' in type.subresources;
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...current, status: incoming.status ?? {} };
      next.metadata = { ...current.metadata, resourceVersion: incoming.metadata.resourceVersion ?? '' };
    } else {
      next = { ...incoming };
      if (hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
    }
    admit(type, next);
    this.hooks.beforeUpdate?.(type, next, current);
    const specChanged =
      subresource !== 'status' && JSON.stringify(next.spec) !== JSON.stringify(current.spec);
    const stored = this.store.update(type, next, { bumpGeneration: specChanged && type.kind !== 'Pod' });
    this.finishDeletionIfReleased(type, stored);
    return stored;
  }

  /** The `scale` subresource of a workload, as an `autoscaling/v1 Scale`. */
  getScale(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const workload = this.store.require(type, namespace, name);
    const selector = field(workload, 'spec', 'selector', 'matchLabels') as Record<string, string> | undefined;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name,
        namespace,
        uid: workload.metadata.uid,
        resourceVersion: workload.metadata.resourceVersion,
        creationTimestamp: workload.metadata.creationTimestamp,
      },
      spec: { replicas: field(workload, 'spec', 'replicas') ?? 0 },
      status: {
        replicas: field(workload, 'status', 'replicas') ?? 0,
        selector: Object.entries(selector ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      },
    };
  }

  /** PUT or PATCH of `scale`: only `spec.replicas` is taken from the result. */
  writeScale(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    contentType?: string,
  ): KubeObject {
    const current = this.getScale(type, namespace, name);
    const next = contentType ? applyPatch(current, body, contentType) : body;
    const replicas = field(next, 'spec', 'replicas');
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw errors.invalid('Scale', 'autoscaling', name, [
        {
          field: 'spec.replicas',
          message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
        },
      ]);
    }
    const expected = field(next, 'metadata', 'resourceVersion');
    const workload = this.store.require(type, namespace, name);
    if (
      !contentType &&
      typeof expected === 'string' &&
      expected &&
      expected !== workload.metadata.resourceVersion
    ) {
      throw errors.conflict(type.resource, type.group, name);
    }
    (workload.spec as Record<string, unknown>).replicas = replicas;
    this.store.update(type, workload, { bumpGeneration: true });
    return this.getScale(type, namespace, name);
  }

  /**
   * DELETE: pods and namespaces go through a graceful phase (deletionTimestamp) that the kubelet or
   * the namespace controller finishes; everything else leaves the store at once.
   */
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): KubeObject {
    const current = this.store.require(type, namespace, name);
    const { uid, resourceVersion } = options.preconditions ?? {};
    if (
      (uid && uid !== current.metadata.uid) ||
      (resourceVersion && resourceVersion !== current.metadata.resourceVersion)
    ) {
      throw errors.conflict(type.resource, type.group, name);
    }
    if (options.propagationPolicy === 'Orphan') this.orphanDependents(current);
    const graceful =
      type.kind === 'Namespace' ||
      (type.kind === 'Pod' &&
        options.gracePeriodSeconds !== 0 &&
        Boolean(field(current, 'spec', 'nodeName'))) ||
      (current.metadata.finalizers?.length ?? 0) > 0;
    if (!graceful) return this.removeNow(type, current);
    if (current.metadata.deletionTimestamp) return current;
    current.metadata.deletionTimestamp = this.store.nowTimestamp();
    if (type.kind === 'Pod') {
      current.metadata.deletionGracePeriodSeconds =
        options.gracePeriodSeconds ??
        (field(current, 'spec', 'terminationGracePeriodSeconds') as number | undefined) ??
        30;
    }
    if (type.kind === 'Namespace') current.status = { ...current.status, phase: 'Terminating' };
    const stored = this.store.update(type, current);
    // Pods wait for the kubelet; namespaces for the namespace controller.
    return this.finishDeletionIfReleased(type, stored) ?? stored;
  }

  /** Pods (by uid) whose processes the kubelet has stopped, still held by a finalizer. */
  private readonly stoppedPods = new Set<string>();

  /**
   * The kubelet stopped the pod's processes: the object goes, unless a finalizer holds it (as
   * the API server keeps it until the last finalizer is removed).
   */
  finishDeletion(type: ResourceType, namespace: string | undefined, name: string): void {
    const current = this.store.get(type, namespace, name);
    if (!current?.metadata.deletionTimestamp) return;
    if ((current.metadata.finalizers?.length ?? 0) > 0) {
      this.stoppedPods.add(current.metadata.uid ?? '');
      return;
    }
    this.removeNow(type, current);
  }

  private finishDeletionIfReleased(type: ResourceType, object: KubeObject): KubeObject | undefined {
    if (!object.metadata.deletionTimestamp || (object.metadata.finalizers?.length ?? 0) > 0) return undefined;
    if (type.kind === 'Namespace') return undefined;
    if (type.kind === 'Pod' && !this.stoppedPods.delete(object.metadata.uid ?? '')) return undefined;
    return this.removeNow(type, object);
  }

  private removeNow(type: ResourceType, object: KubeObject): KubeObject {
    const removed = this.store.remove(type, object.metadata.namespace, object.metadata.name ?? '');
    this.hooks.afterRemove?.(type, removed);
    return removed;
  }

  private orphanDependents(owner: KubeObject): void {
    for (const kind of ['ReplicaSet', 'Pod'] as const) {
      const type = resourceTypeOfKind(kind);
      for (const dependent of this.store.list(type, owner.metadata.namespace)) {
        const refs = dependent.metadata.ownerReferences ?? [];
        if (!refs.some((ref) => ref.uid === owner.metadata.uid)) continue;
        dependent.metadata.ownerReferences = refs.filter((ref) => ref.uid !== owner.metadata.uid);
        this.store.update(type, dependent);
      }
    }
  }
}
