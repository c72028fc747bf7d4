/** The three patch types the API server accepts: JSON patch, JSON merge patch and strategic merge patch. */
import jsonPatch, { type Operation } from 'fast-json-patch';
import { ApiError, errors } from './status-errors';
import { isRecord } from './objects';

export const patchContentTypes = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

/** RFC 7386: objects merge key by key, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** The merge keys of the lists that strategic merge patch merges instead of replacing. */
const listMergeKeys: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  conditions: 'type',
};

/**
 * Strategic merge patch for the cases clients send in practice: maps merge as in a merge patch,
 * lists with a known merge key merge element by element, `$patch: delete` removes an element, and
 * other lists are replaced.
 */
export function strategicMergePatch(target: unknown, patch: unknown, key?: string): unknown {
  if (Array.isArray(patch)) {
    const mergeKey = key === undefined ? undefined : listMergeKeys[key];
    if (!mergeKey || !Array.isArray(target)) return patch.filter((item) => !(isRecord(item) && item.$patch));
    // Service ports merge on `port`, container ports on `containerPort`.
    const effectiveKey =
      mergeKey === 'containerPort' && patch.some((p) => isRecord(p) && 'port' in p) ? 'port' : mergeKey;
    const result = [...(target as unknown[])];
    for (const item of patch) {
      if (!isRecord(item)) continue;
      const index = result.findIndex(
        (existing) => isRecord(existing) && existing[effectiveKey] === item[effectiveKey],
      );
      if (item.$patch === 'delete') {
        if (index >= 0) result.splice(index, 1);
      } else if (index >= 0) {
        result[index] = strategicMergePatch(result[index], item);
      } else {
        result.push(item);
      }
    }
    return result;
  }
  if (!isRecord(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _directive, ...rest } = patch;
    return rest;
  }
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [field, value] of Object.entries(patch)) {
    if (field.startsWith('$')) continue;
    if (value === null) delete result[field];
    else result[field] = strategicMergePatch(result[field], value, field);
  }
  return result;
}

/**
 * Applies `body` of the given content type to `target`. Throws 415 for unknown patch types and
 * 400 or 422 for patches that do not apply, as the API server does.
 */
export function applyPatch(target: object, body: unknown, contentType: string): unknown {
  const type = contentType.split(';')[0]?.trim() ?? '';
  switch (type) {
    case patchContentTypes.merge:
      return mergePatch(target, body);
    case patchContentTypes.strategic:
      return strategicMergePatch(target, body);
    case patchContentTypes.json: {
      if (!Array.isArray(body))
        throw errors.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
      try {
        return jsonPatch.applyPatch(structuredClone(target), body as Operation[], true).newDocument;
      } catch (error) {
        const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
        throw new ApiError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: ${detail}`,
        );
      }
    }
    default:
      throw errors.unsupportedMediaType(contentType);
  }
}
