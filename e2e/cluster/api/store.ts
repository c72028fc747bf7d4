/**
 * The cluster's object store: one resourceVersion counter for every write (as etcd's revision), a
 * bounded history so watches can resume, and 410 Gone for resourceVersions older than the history.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { errors } from './status-errors';
import type { KubeObject } from './objects';
import { apiVersionOf, resourceKey, type ResourceType } from './resources';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  resource: ResourceType;
  object: KubeObject;
  /** The object before this write; absent for ADDED. */
  previous?: KubeObject;
  resourceVersion: number;
}

export interface ObjectStoreOptions {
  /** How many events are kept for watches to resume from; older resourceVersions get 410 Gone. */
  historyLimit?: number;
  now?: () => Date;
}

const generateNameAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** Stores objects by resource and `namespace/name`, and emits `change` with a `StoreEvent` on every write. */
export class ObjectStore extends EventEmitter<{ change: [StoreEvent] }> {
  private revision = 1000;
  private readonly byResource = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  /** The oldest resourceVersion a watch may start after. */
  private compactedThrough = 1000;
  private readonly historyLimit: number;
  private readonly now: () => Date;

  constructor(options: ObjectStoreOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.historyLimit = options.historyLimit ?? 10_000;
    this.now = options.now ?? (() => new Date());
  }

  get currentRevision(): number {
    return this.revision;
  }

  private bucket(type: ResourceType): Map<string, KubeObject> {
    const key = resourceKey(type);
    let bucket = this.byResource.get(key);
    if (!bucket) {
      bucket = new Map();
      this.byResource.set(key, bucket);
    }
    return bucket;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const object = this.bucket(type).get(objectKey(namespace, name));
    return object ? structuredClone(object) : undefined;
  }

  /** Like `get`, but throws the API's NotFound. */
  require(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const object = this.get(type, namespace, name);
    if (!object) throw errors.notFound(type.resource, type.group, name);
    return object;
  }

  list(type: ResourceType, namespace?: string): KubeObject[] {
    const objects: KubeObject[] = [];
    for (const object of this.bucket(type).values()) {
      if (namespace === undefined || object.metadata.namespace === namespace)
        objects.push(structuredClone(object));
    }
    return objects.sort((a, b) =>
      objectKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(
        objectKey(b.metadata.namespace, b.metadata.name ?? ''),
      ),
    );
  }

  /** Stores a new object, filling uid, timestamps, resourceVersion and a generated name. */
  create(type: ResourceType, input: KubeObject): KubeObject {
    const object = structuredClone(input);
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    const metadata = object.metadata;
    if (!metadata.name && metadata.generateName) {
      let name: string;
      do {
        name = metadata.generateName + randomSuffix(5);
      } while (this.bucket(type).has(objectKey(metadata.namespace, name)));
      metadata.name = name;
    }
    const name = metadata.name ?? '';
    const bucket = this.bucket(type);
    if (bucket.has(objectKey(metadata.namespace, name)))
      throw errors.alreadyExists(type.resource, type.group, name);
    metadata.uid = randomUUID();
    metadata.creationTimestamp = this.timestamp();
    metadata.generation = 1;
    delete metadata.deletionTimestamp;
    return this.write(type, 'ADDED', object, undefined);
  }

  /**
   * Replaces an object. A resourceVersion in `input` must match the stored one (optimistic
   * concurrency); an empty one means "unconditionally", as for the API's update.
   */
  update(type: ResourceType, input: KubeObject, options: { bumpGeneration?: boolean } = {}): KubeObject {
    const name = input.metadata.name ?? '';
    const current = this.bucket(type).get(objectKey(input.metadata.namespace, name));
    if (!current) throw errors.notFound(type.resource, type.group, name);
    const expected = input.metadata.resourceVersion;
    if (expected && expected !== current.metadata.resourceVersion) {
      throw errors.conflict(type.resource, type.group, name);
    }
    const object = structuredClone(input);
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    // Identity and bookkeeping are the server's; clients cannot change them.
    object.metadata.uid = current.metadata.uid;
    object.metadata.creationTimestamp = current.metadata.creationTimestamp;
    object.metadata.generation = (current.metadata.generation ?? 1) + (options.bumpGeneration ? 1 : 0);
    if (current.metadata.deletionTimestamp) {
      object.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      object.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
    }
    if (JSON.stringify(stripVolatile(object)) === JSON.stringify(stripVolatile(current))) {
      return structuredClone(current);
    }
    return this.write(type, 'MODIFIED', object, current);
  }

  /** Removes an object now; returns it with the deletion's resourceVersion. */
  remove(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const bucket = this.bucket(type);
    const current = bucket.get(objectKey(namespace, name));
    if (!current) throw errors.notFound(type.resource, type.group, name);
    bucket.delete(objectKey(namespace, name));
    this.revision++;
    const object = structuredClone(current);
    object.metadata.resourceVersion = String(this.revision);
    this.record({
      type: 'DELETED',
      resource: type,
      object,
      previous: current,
      resourceVersion: this.revision,
    });
    return structuredClone(object);
  }

  /**
   * Events after `resourceVersion` for `type`, for a watch to replay. Throws 410 Gone when the
   * history no longer reaches back that far.
   */
  eventsSince(type: ResourceType, resourceVersion: number): StoreEvent[] {
    if (resourceVersion < this.compactedThrough) {
      throw errors.gone(`too old resource version: ${resourceVersion} (${this.compactedThrough})`);
    }
    const key = resourceKey(type);
    return this.history.filter((e) => e.resourceVersion > resourceVersion && resourceKey(e.resource) === key);
  }

  /** Forgets all history, so every watch that resumes from an old resourceVersion gets 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.compactedThrough = this.revision;
  }

  private write(
    type: ResourceType,
    kind: WatchEventType,
    object: KubeObject,
    previous: KubeObject | undefined,
  ): KubeObject {
    this.revision++;
    object.metadata.resourceVersion = String(this.revision);
    const stored = structuredClone(object);
    this.bucket(type).set(objectKey(object.metadata.namespace, object.metadata.name ?? ''), stored);
    this.record({
      type: kind,
      resource: type,
      object: stored,
      ...(previous ? { previous } : {}),
      resourceVersion: this.revision,
    });
    return structuredClone(stored);
  }

  private record(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedThrough = dropped.at(-1)?.resourceVersion ?? this.compactedThrough;
    }
    this.emit('change', event);
  }

  private timestamp(): string {
    return this.now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  }

  /** RFC 3339 at second precision, as Kubernetes writes timestamps. */
  nowTimestamp(): string {
    return this.timestamp();
  }
}

function stripVolatile(object: KubeObject): KubeObject {
  const copy = { ...object, metadata: { ...object.metadata } };
  delete copy.metadata.resourceVersion;
  delete copy.metadata.managedFields;
  return copy;
}

function randomSuffix(length: number): string {
  let suffix = '';
  for (let i = 0; i < length; i++) {
    suffix += generateNameAlphabet.charAt(Math.floor(Math.random() * generateNameAlphabet.length));
  }
  return suffix;
}

export { randomSuffix };
