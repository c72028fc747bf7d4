/**
 * A warm takeover's one change to the cluster besides its own pod: the Service's selector,
 * switched to the expose's pod and back. Nothing behind the Service is scaled, restarted or
 * touched. Each switch is one patch guarded by the resourceVersion it read, that also records
 * (or removes) the original selector on the Service, so a crash never loses it; and a selector
 * someone else changed while it was held is never fought over: it is theirs from then on.
 */
import * as k8s from '@kubernetes/client-node';
import { errorStatus } from '../kube/api-errors';
import { localizerKeys } from '../kube/localizer-keys';

/** The selector a taken-over Service has: the expose's pod, by its session. */
export function interceptSelector(session: string): Record<string, string> {
  return { [localizerKeys.intercept]: session };
}

/** The selector a Service had before a takeover, from its annotation; undefined when it is not taken over. */
export function originalSelectorOf(service: k8s.V1Service): Record<string, string> | undefined {
  const recorded = service.metadata?.annotations?.[localizerKeys.originalSelector];
  if (!recorded) return undefined;
  try {
    const parsed = JSON.parse(recorded) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      ),
    );
  } catch {
    return undefined;
  }
}

/** Whether `service` is held by the takeover of `session` now: its selector is that session's pod. */
export function isHeldBy(service: k8s.V1Service, session: string): boolean {
  const selector = service.spec?.selector ?? {};
  const keys = Object.keys(selector);
  return keys.length === 1 && selector[localizerKeys.intercept] === session;
}

/** `app=api,tier=web`, as kubectl writes a selector. */
export function describeSelector(selector: Record<string, string> | undefined): string {
  const entries = Object.entries(selector ?? {});
  return entries.length === 0 ? 'no selector' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/**
 * Who last changed the Service's spec, as the API server recorded it (managedFields: the field
 * manager and when), for a message that names them; empty where nothing says.
 */
export function lastSpecChange(service: k8s.V1Service): string {
  const entries = (service.metadata?.managedFields ?? []).filter((entry) =>
    JSON.stringify(entry.fieldsV1 ?? {}).includes('"f:spec"'),
  );
  const last = entries.sort((a, b) => String(a.time ?? '').localeCompare(String(b.time ?? ''))).at(-1);
  if (!last?.manager) return '';
  const at = last.time ? ` at ${new Date(last.time).toISOString()}` : '';
  return ` by ${last.manager}${last.operation ? ` (${last.operation})` : ''}${at}`;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/**
 * Points `service` (as read, with its resourceVersion) at the pod of `session`, recording its
 * selector and the owner on it, in one patch that fails if the Service changed since it was read.
 * Returns the Service as patched. Throws the API error (409 when someone changed it meanwhile).
 */
export async function takeOver(
  core: k8s.CoreV1Api,
  service: k8s.V1Service,
  owner: { session: string; owner: string },
  /** More to record on the Service (a router's name), removed again by `giveBack`. */
  extraAnnotations: Record<string, string> = {},
  /** The selector to record as the Service's own, when it is not the one it has now. */
  ownSelector?: Record<string, string>,
): Promise<k8s.V1Service> {
  const selector = service.spec?.selector ?? {};
  return core.patchNamespacedService(
    {
      namespace: service.metadata?.namespace ?? '',
      name: service.metadata?.name ?? '',
      body: {
        metadata: {
          resourceVersion: service.metadata?.resourceVersion,
          annotations: {
            [localizerKeys.originalSelector]: JSON.stringify(ownSelector ?? selector),
            [localizerKeys.session]: owner.session,
            [localizerKeys.owner]: owner.owner,
            ...extraAnnotations,
          },
        },
        spec: {
          // A merge patch removes a key set to null: the original keys go, ours comes.
          selector: {
            ...Object.fromEntries(Object.keys(selector).map((key) => [key, null])),
            ...interceptSelector(owner.session),
          },
        },
      },
    },
    mergePatch,
  );
}

export type GiveBackOutcome =
  /** The original selector is back. */
  | { outcome: 'restored'; service: k8s.V1Service }
  /** Someone else changed the selector while it was held: left as they made it. */
  | { outcome: 'changed'; service: k8s.V1Service }
  /** Nothing of this session's is on the Service (the takeover never landed). */
  | { outcome: 'untouched' }
  /** The Service is gone. */
  | { outcome: 'gone' };

/** A held Service whose original selector is known to nobody: it must be set back by hand. */
export class SelectorUnknownError extends Error {
  override name = 'SelectorUnknownError';
}

/**
 * Puts the original selector back and removes Localizer's annotations, in one patch guarded by
 * the resourceVersion just read, retried when something else wrote in between. A selector that
 * someone else changed while it was held is theirs: only what Localizer added goes (its
 * annotations, and its own key if their change kept it, which would otherwise select nothing).
 */
export async function giveBack(
  core: k8s.CoreV1Api,
  target: { namespace: string; name: string },
  session: string,
  /** The selector as the takeover read it, for a Service whose record of it was lost. */
  knownSelector?: Record<string, string>,
): Promise<GiveBackOutcome> {
  for (let attempt = 0; ; attempt++) {
    let current: k8s.V1Service;
    try {
      current = await core.readNamespacedService(target);
    } catch (error) {
      if (errorStatus(error) === 404) return { outcome: 'gone' };
      throw error;
    }
    const selector = current.spec?.selector ?? {};
    const held = isHeldBy(current, session);
    const original = originalSelectorOf(current) ?? knownSelector;
    const ours = current.metadata?.annotations?.[localizerKeys.session] === session;
    const keptOurKey = !held && selector[localizerKeys.intercept] === session;
    if (!ours && !held && !keptOurKey) return { outcome: 'untouched' };
    // Held, and nobody knows what it selected before: keep every trace, so it can be mended.
    if (held && !original)
      throw new SelectorUnknownError(
        `Service ${target.namespace}/${target.name} still selects the SSH pod of session ${session}, and its original selector is not recorded on it (its ${localizerKeys.originalSelector} annotation is missing or unreadable). Set its selector back by hand (\`kubectl edit service -n ${target.namespace} ${target.name}\`).`,
      );
    const restoring = held && original !== undefined;
    const nextSelector = restoring
      ? { ...Object.fromEntries(Object.keys(selector).map((key) => [key, null])), ...original }
      : keptOurKey
        ? { [localizerKeys.intercept]: null }
        : undefined;
    const body = {
      metadata: {
        resourceVersion: current.metadata?.resourceVersion,
        // Only what this session wrote: another takeover's record is not ours to remove.
        ...(ours
          ? {
              annotations: {
                [localizerKeys.originalSelector]: null,
                [localizerKeys.session]: null,
                [localizerKeys.owner]: null,
                [localizerKeys.router]: null,
              },
            }
          : {}),
      },
      ...(nextSelector ? { spec: { selector: nextSelector } } : {}),
    };
    try {
      const service = await core.patchNamespacedService({ ...target, body }, mergePatch);
      return restoring ? { outcome: 'restored', service } : { outcome: 'changed', service };
    } catch (error) {
      // Someone wrote in between (a status update, a label): read again and decide again.
      if (errorStatus(error) === 409 && attempt < 5) continue;
      if (errorStatus(error) === 404) return { outcome: 'gone' };
      throw error;
    }
  }
}
