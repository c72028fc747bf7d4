/**
 * The garbage collector (dependents of a deleted owner go too, in the background) and the
 * namespace controller (a Terminating namespace empties, then disappears).
 */
import type { Registry } from '../api/registry';
import { resourceTypeOfKind, resourceTypes } from '../api/resources';
import type { ObjectStore } from '../api/store';
import { createControllerLoop, type Controller } from './controller-loop';

const namespaces = resourceTypeOfKind('Namespace');

function collectGarbage(store: ObjectStore, registry: Registry): void {
  const live = new Set<string>();
  for (const type of resourceTypes)
    for (const object of store.list(type)) live.add(object.metadata.uid ?? '');
  for (const type of resourceTypes) {
    for (const object of store.list(type)) {
      const owners = object.metadata.ownerReferences ?? [];
      if (owners.length === 0 || object.metadata.deletionTimestamp) continue;
      if (owners.some((owner) => live.has(owner.uid))) continue;
      registry.delete(type, object.metadata.namespace, object.metadata.name ?? '');
    }
  }
}

function finalizeNamespaces(store: ObjectStore, registry: Registry): void {
  for (const namespace of store.list(namespaces)) {
    if (!namespace.metadata.deletionTimestamp) continue;
    const name = namespace.metadata.name ?? '';
    let remaining = 0;
    for (const type of resourceTypes) {
      if (!type.namespaced) continue;
      for (const object of store.list(type, name)) {
        remaining++;
        if (!object.metadata.deletionTimestamp) registry.delete(type, name, object.metadata.name ?? '');
      }
    }
    if (remaining === 0) registry.finishDeletion(namespaces, undefined, name);
  }
}

export function createLifecycleControllers(
  store: ObjectStore,
  registry: Registry,
  log: (m: string) => void,
): Controller {
  return createControllerLoop(
    store,
    resourceTypes.map((t) => t.kind),
    () => {
      collectGarbage(store, registry);
      finalizeNamespaces(store, registry);
    },
    log,
  );
}
