/**
 * The user's settings: one schema for the app's electron-store, the browser harness and the
 * settings form. Versioned, so a newer app migrates what an older one stored.
 */
import { z } from 'zod';
import { parseIpv4Range, loopbackRange, rangeWithin } from './ipv4-range';
import { isValidHostname } from './hostnames';

const namespaceName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'not a valid namespace name');

function isLoopbackRange(value: string): boolean {
  try {
    const range = parseIpv4Range(value);
    return rangeWithin(range, loopbackRange) && range.end - range.first >= 256;
  } catch {
    return false;
  }
}

export const settingsSchema = z.object({
  ipRange: z
    .string()
    .refine(isLoopbackRange, 'must be a /24 or larger inside 127.0.0.0/8, e.g. 127.77.0.0/16'),
  clusterDomain: z.string().refine(isValidHostname, 'must be a DNS name, e.g. cluster.local'),
  namespaces: z.array(namespaceName),
  excludeNamespaces: z.array(namespaceName),
  sshImage: z.string().min(1, 'must name an image'),
  sshUser: z.string().regex(/^[a-z_][a-z0-9_-]*:[1-9]\d*$/, 'must be NAME:UID of a non-root account'),
  /** Whether connect reaches ExternalName, selector-less and UDP services through a relay pod. */
  relays: z.boolean(),
  relayImage: z.string().min(1, 'must name an image'),
  notifications: z.boolean(),
  launchAtLogin: z.boolean(),
  /** Project files opened in the window, newest first. */
  recentProjects: z.array(z.string().min(1).max(4096)).max(10),
});

export type Settings = z.infer<typeof settingsSchema>;

export const defaultSettings: Settings = {
  ipRange: '127.77.0.0/16',
  clusterDomain: 'cluster.local',
  namespaces: [],
  excludeNamespaces: [],
  sshImage: 'lscr.io/linuxserver/openssh-server:latest',
  sshUser: 'abc:911',
  relays: true,
  // Why this image: src/main/engine/relay/relay-pod.ts.
  relayImage: 'python:3.13-alpine',
  notifications: true,
  launchAtLogin: false,
  recentProjects: [],
};

export const settingsVersion = 2;

/**
 * Brings stored settings of any earlier version up to date, keeping what is still valid and
 * falling back to defaults for the rest. Version 1 had `namespace` (one string) and `sshUser`
 * without a uid.
 */
export function migrateSettings(stored: unknown, fromVersion: number): Settings {
  const record = (typeof stored === 'object' && stored !== null ? stored : {}) as Record<string, unknown>;
  const upgraded: Record<string, unknown> = { ...record };
  if (fromVersion < 2) {
    if (typeof record.namespace === 'string' && record.namespace) upgraded.namespaces = [record.namespace];
    delete upgraded.namespace;
    if (typeof record.sshUser === 'string' && !record.sshUser.includes(':')) delete upgraded.sshUser;
  }
  const merged: Record<string, unknown> = { ...defaultSettings };
  for (const key of Object.keys(settingsSchema.shape) as (keyof Settings)[]) {
    const field = settingsSchema.shape[key].safeParse(upgraded[key]);
    if (field.success) merged[key] = field.data;
  }
  return settingsSchema.parse(merged);
}
