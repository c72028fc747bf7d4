/** The discovery documents kubectl reads before anything else: /version, /api, /apis and resource lists. */
import { apiGroups, resourceTypes, type ResourceType } from './resources';

/** The Kubernetes version the cluster claims; kubectl's dispatcher picks its bundled kubectl by `minor`. */
export const serverVersion = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4-localizer-test',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-11-01T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDocument(group: { name: string; versions: string[] }): Record<string, unknown> {
  const versions = group.versions.map((version) => ({ groupVersion: `${group.name}/${version}`, version }));
  return { name: group.name, versions, preferredVersion: versions[0] };
}

export function apiGroupList(): Record<string, unknown> {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: apiGroups.map(groupDocument) };
}

export function apiGroup(name: string): Record<string, unknown> | undefined {
  const group = apiGroups.find((g) => g.name === name);
  return group ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDocument(group) } : undefined;
}

function resourceEntries(type: ResourceType): Record<string, unknown>[] {
  const main = {
    name: type.resource,
    singularName: type.singular,
    namespaced: type.namespaced,
    kind: type.kind,
    verbs: type.verbs,
    ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
    ...(type.categories ? { categories: type.categories } : {}),
    storageVersionHash: Buffer.from(type.kind).toString('base64').slice(0, 11),
  };
  const subresources = Object.entries(type.subresources).map(([name, sub]) => ({
    name: `${type.resource}/${name}`,
    singularName: '',
    namespaced: type.namespaced,
    ...(sub.group ? { group: sub.group, version: sub.version } : {}),
    kind: sub.kind || type.kind,
    verbs: sub.verbs,
  }));
  return [main, ...subresources];
}

/** The APIResourceList of one group-version, or undefined if the cluster does not serve it. */
export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const served =
    group === '' ? version === 'v1' : apiGroups.some((g) => g.name === group && g.versions.includes(version));
  if (!served) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: resourceTypes
      .filter((t) => t.group === group && t.version === version)
      .flatMap(resourceEntries),
  };
}
