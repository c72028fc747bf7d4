/**
 * The files a container sees from its ConfigMap, Secret and downward-API volumes, as the kubelet
 * lays them out: each volume's keys (or its `items`, with their paths and modes), the default
 * mode, and each mount's `subPath`, placed under the mount's path.
 */
import type * as k8s from '@kubernetes/client-node';
import { podField, resourceValue, type Readable, type UnresolvedVariable } from './container-environment';

export interface VolumeFile {
  /** Relative to the directory the files go in: the mount path without its leading `/`. */
  path: string;
  content: Buffer;
  mode: number;
}

export interface FileSources {
  configMap(name: string): Readable<Record<string, Buffer>>;
  secret(name: string): Readable<Record<string, Buffer>>;
  pod: k8s.V1Pod | undefined;
}

type Entries = Map<string, { content: Buffer; mode: number }>;

/** kubelet's `key="value"` lines for `metadata.labels` and `metadata.annotations`, sorted. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(map?.[key] ?? '')}`)
    .join('\n');
}

/** A downward-API file's content: the fields an env `fieldRef` reads, plus whole label maps. */
function downwardValue(
  item: k8s.V1DownwardAPIVolumeFile,
  pod: k8s.V1Pod,
  podSpec: k8s.V1PodSpec,
): string | undefined {
  const path = item.fieldRef?.fieldPath;
  if (path === 'metadata.labels') return formatMap(pod.metadata?.labels);
  if (path === 'metadata.annotations') return formatMap(pod.metadata?.annotations);
  if (path) return podField(pod, path);
  const resource = item.resourceFieldRef;
  if (!resource) return undefined;
  const container =
    podSpec.containers.find((c) => c.name === resource.containerName) ?? podSpec.containers[0];
  return container ? resourceValue(container, resource) : undefined;
}

/** One volume's files, by path inside the volume. */
function volumeEntries(
  volume: k8s.V1Volume,
  podSpec: k8s.V1PodSpec,
  sources: FileSources,
  unresolved: UnresolvedVariable[],
): Entries | undefined {
  const entries: Entries = new Map();
  const fromKeys = (
    read: Readable<Record<string, Buffer>>,
    what: string,
    items: k8s.V1KeyToPath[] | undefined,
    defaultMode: number | undefined,
    optional: boolean | undefined,
  ): Entries | undefined => {
    if ('forbidden' in read) {
      unresolved.push({ name: `volume ${volume.name}`, reason: `${what}: ${read.forbidden}` });
      return undefined;
    }
    if ('missing' in read) {
      if (optional) return entries;
      unresolved.push({
        name: `volume ${volume.name}`,
        reason: `${what} does not exist, so the pod would not start`,
      });
      return undefined;
    }
    const chosen: k8s.V1KeyToPath[] = items ?? Object.keys(read.found).map((key) => ({ key, path: key }));
    for (const item of chosen) {
      const content = read.found[item.key];
      if (content === undefined) {
        if (!optional)
          unresolved.push({ name: `volume ${volume.name}`, reason: `${what} has no key ${item.key}` });
        continue;
      }
      entries.set(item.path, { content, mode: item.mode ?? defaultMode ?? 0o644 });
    }
    return entries;
  };
  if (volume.configMap?.name)
    return fromKeys(
      sources.configMap(volume.configMap.name),
      `configmap ${volume.configMap.name}`,
      volume.configMap.items,
      volume.configMap.defaultMode,
      volume.configMap.optional,
    );
  if (volume.secret?.secretName)
    return fromKeys(
      sources.secret(volume.secret.secretName),
      `secret ${volume.secret.secretName}`,
      volume.secret.items,
      volume.secret.defaultMode,
      volume.secret.optional,
    );
  if (volume.downwardAPI) {
    if (!sources.pod) {
      unresolved.push({
        name: `volume ${volume.name}`,
        reason: 'its fields come from a running pod, and none runs',
      });
      return undefined;
    }
    for (const item of volume.downwardAPI.items ?? []) {
      const value = downwardValue(item, sources.pod, podSpec);
      if (value === undefined) {
        unresolved.push({
          name: `volume ${volume.name}, ${item.path}`,
          reason: 'depends on the node (a limit that is not set)',
        });
        continue;
      }
      entries.set(item.path, {
        content: Buffer.from(value),
        mode: item.mode ?? volume.downwardAPI.defaultMode ?? 0o644,
      });
    }
    return entries;
  }
  return undefined; // emptyDir, persistent volumes: nothing to read from the API
}

export function containerFiles(
  podSpec: k8s.V1PodSpec,
  container: k8s.V1Container,
  sources: FileSources,
): { files: VolumeFile[]; unresolved: UnresolvedVariable[] } {
  const unresolved: UnresolvedVariable[] = [];
  const files: VolumeFile[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = podSpec.volumes?.find((v) => v.name === mount.name);
    if (!volume) continue;
    const entries = volumeEntries(volume, podSpec, sources, unresolved);
    if (!entries) continue;
    const base = mount.mountPath.replace(/^\/+/, '').replace(/\/+$/, '');
    const sub = mount.subPath?.replace(/^\/+|\/+$/g, '');
    for (const [path, entry] of entries) {
      if (!sub) files.push({ path: `${base}/${path}`, ...entry });
      else if (path === sub) files.push({ path: base, ...entry });
      else if (path.startsWith(`${sub}/`))
        files.push({ path: `${base}/${path.slice(sub.length + 1)}`, ...entry });
    }
  }
  return { files, unresolved };
}
