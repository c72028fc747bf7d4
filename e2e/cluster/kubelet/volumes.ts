/**
 * Secret, ConfigMap and emptyDir volumes, written to a pod's directory with the modes and group
 * ownership a kubelet gives them, ready to be bind-mounted at each container's mountPath.
 */
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { KeyToPath, Pod } from '../api/objects';
import { resourceTypeOfKind } from '../api/resources';
import type { ObjectStore } from '../api/store';
import { podField, resourceField, type EnvContainer } from './container-env';

/** A volume source that does not exist yet; the pod waits in ContainerCreating, as on a real node. */
export class VolumeNotReadyError extends Error {
  override name = 'VolumeNotReadyError';
}

const secrets = resourceTypeOfKind('Secret');
const configMaps = resourceTypeOfKind('ConfigMap');
const isRoot = process.getuid?.() === 0;

function writeItems(
  directory: string,
  data: Record<string, Buffer>,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  fsGroup: number | undefined,
): void {
  const entries: KeyToPath[] = items ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const item of entries) {
    const content = data[item.key];
    if (content === undefined) throw new VolumeNotReadyError(`key ${item.key} is missing`);
    const relative = normalize(item.path);
    if (relative.startsWith('..') || relative.startsWith('/'))
      throw new VolumeNotReadyError(`path ${item.path} leaves the volume`);
    const file = join(directory, relative);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    chmodSync(file, item.mode ?? defaultMode);
    if (isRoot) chownSync(file, 0, fsGroup ?? 0);
  }
}

/** kubelet's fieldpath.FormatMap: `key="value"` lines, sorted, no newline at the end. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(map?.[key] ?? '')}`)
    .join('\n');
}

function downwardValue(
  pod: Pod,
  item: NonNullable<NonNullable<NonNullable<Pod['spec']['volumes']>[number]['downwardAPI']>['items']>[number],
): string {
  if (item.fieldRef) {
    if (item.fieldRef.fieldPath === 'metadata.labels') return formatMap(pod.metadata.labels);
    if (item.fieldRef.fieldPath === 'metadata.annotations') return formatMap(pod.metadata.annotations);
    return podField(pod, item.fieldRef.fieldPath);
  }
  if (item.resourceFieldRef) {
    const name = item.resourceFieldRef.containerName;
    const container = pod.spec.containers.find((c) => c.name === name) ?? pod.spec.containers[0];
    return resourceField(container as EnvContainer, item.resourceFieldRef);
  }
  return '';
}

/** Writes every volume of `pod` under `podDirectory/volumes/<name>`; returns the directories by name. */
export function materializeVolumes(store: ObjectStore, pod: Pod, podDirectory: string): Map<string, string> {
  const fsGroup = pod.spec.securityContext?.fsGroup;
  const namespace = pod.metadata.namespace;
  const result = new Map<string, string>();
  for (const volume of pod.spec.volumes ?? []) {
    const directory = join(podDirectory, 'volumes', volume.name);
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { recursive: true, mode: 0o755 });
    if (isRoot && fsGroup !== undefined) chownSync(directory, 0, fsGroup);
    if (volume.secret) {
      const secret = store.get(secrets, namespace, volume.secret.secretName);
      if (!secret) {
        if (!volume.secret.optional)
          throw new VolumeNotReadyError(`secret "${volume.secret.secretName}" not found`);
      } else {
        const data = Object.fromEntries(
          Object.entries((secret.data ?? {}) as Record<string, string>).map(([k, v]) => [
            k,
            Buffer.from(v, 'base64'),
          ]),
        );
        writeItems(directory, data, volume.secret.items, volume.secret.defaultMode ?? 0o644, fsGroup);
      }
    } else if (volume.configMap) {
      const configMap = store.get(configMaps, namespace, volume.configMap.name);
      if (!configMap) {
        if (!volume.configMap.optional)
          throw new VolumeNotReadyError(`configmap "${volume.configMap.name}" not found`);
      } else {
        const data = Object.fromEntries(
          Object.entries((configMap.data ?? {}) as Record<string, string>).map(([k, v]) => [
            k,
            Buffer.from(v),
          ]),
        );
        writeItems(directory, data, volume.configMap.items, volume.configMap.defaultMode ?? 0o644, fsGroup);
      }
    } else if (volume.downwardAPI) {
      const data: Record<string, Buffer> = {};
      const items = volume.downwardAPI.items ?? [];
      for (const item of items) data[item.path] = Buffer.from(downwardValue(pod, item));
      writeItems(
        directory,
        data,
        items.map((item) => ({
          key: item.path,
          path: item.path,
          ...(item.mode !== undefined ? { mode: item.mode } : {}),
        })),
        volume.downwardAPI.defaultMode ?? 0o644,
        fsGroup,
      );
    } else {
      chmodSync(directory, 0o777);
    }
    result.set(volume.name, directory);
  }
  return result;
}
