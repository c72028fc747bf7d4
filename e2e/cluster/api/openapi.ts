/**
 * OpenAPI v3 documents, reduced to what kubectl reads from them: which operations exist for each
 * kind, and that PATCH and POST take `fieldValidation` (so kubectl validates on the server instead
 * of downloading full schemas). Schemas themselves are not modelled.
 */
import { createHash } from 'node:crypto';
import { apiGroups, resourceTypes, type ResourceType } from './resources';

function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const queryParameters = ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'].map((name) => ({
  name,
  in: 'query',
  schema: { type: 'string', uniqueItems: true },
}));

function operations(type: ResourceType, verbs: readonly string[]): Record<string, unknown> {
  const gvk = { group: type.group, version: type.version, kind: type.kind };
  const operation = (action: string): Record<string, unknown> => ({
    operationId: `${action}${type.kind}`,
    parameters: queryParameters,
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
  });
  const result: Record<string, unknown> = {};
  for (const verb of verbs) {
    if (verb === 'create') result.post = operation('post');
    if (verb === 'patch') result.patch = operation('patch');
    if (verb === 'update') result.put = operation('put');
    if (verb === 'get' || verb === 'list') result.get = operation(verb);
    if (verb === 'delete' || verb === 'deletecollection')
      result.delete = operation(verb === 'delete' ? 'delete' : 'deletecollection');
  }
  return result;
}

/** The OpenAPI v3 document of one group-version, or undefined if it is not served. */
export function openApiDocument(group: string, version: string): Record<string, unknown> | undefined {
  const types = resourceTypes.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const type of types) {
    const base = `/${groupVersionPath(group, version)}${type.namespaced ? '/namespaces/{namespace}' : ''}/${type.resource}`;
    paths[base] = operations(
      type,
      type.verbs.filter((v) => ['create', 'list', 'deletecollection'].includes(v)),
    );
    paths[`${base}/{name}`] = operations(
      type,
      type.verbs.filter((v) => ['get', 'update', 'patch', 'delete'].includes(v)),
    );
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.4' },
    paths,
    components: { schemas: {} },
  };
}

/** The `/openapi/v3` index: one entry per group-version, with a content hash in its URL. */
export function openApiIndex(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const groupVersions = [
    { group: '', version: 'v1' },
    ...apiGroups.flatMap((g) => g.versions.map((version) => ({ group: g.name, version }))),
  ];
  for (const { group, version } of groupVersions) {
    const document = openApiDocument(group, version);
    if (!document) continue;
    const hash = createHash('sha512')
      .update(JSON.stringify(document))
      .digest('hex')
      .slice(0, 128)
      .toUpperCase();
    paths[groupVersionPath(group, version)] = {
      serverRelativeURL: `/openapi/v3/${groupVersionPath(group, version)}?hash=${hash}`,
    };
  }
  return { paths };
}
