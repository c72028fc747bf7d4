/**
 * Loading a kubeconfig the way kubectl does: `--kubeconfig`, else every file in `KUBECONFIG`,
 * else ~/.kube/config; `--context`, else current-context. Errors name the file or context and
 * say what to do.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KubeconfigError } from './kubeconfig-error';

export interface KubeContext {
  kubeConfig: k8s.KubeConfig;
  /** The context's name, which also keys its persisted addresses. */
  name: string;
  /** The context's namespace, or `default`. */
  namespace: string;
  server: string;
  /** The kubeconfig files it was read from (absolute), so a later run can read the same. */
  files: string[];
}

export function kubeconfigFiles(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  if (explicit) return [explicit];
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f.length > 0);
  return fromEnv.length > 0 ? fromEnv : [join(homedir(), '.kube', 'config')];
}

/** Loads and checks the kubeconfig; throws `KubeconfigError` for anything a user must fix. */
export function loadKubeContext(
  options: { kubeconfig?: string; context?: string; env?: NodeJS.ProcessEnv } = {},
): KubeContext {
  const files = kubeconfigFiles(options.kubeconfig, options.env);
  const existing = files.filter((file) => existsSync(file));
  if (existing.length === 0) {
    throw new KubeconfigError(
      `No kubeconfig found at ${files.join(', ')}. Point --kubeconfig or KUBECONFIG at your cluster's kubeconfig (kubectl uses the same file).`,
    );
  }
  const kubeConfig = new k8s.KubeConfig();
  for (const file of existing) {
    const part = new k8s.KubeConfig();
    try {
      part.loadFromFile(file);
    } catch (error) {
      throw new KubeconfigError(
        `The kubeconfig ${file} cannot be read: ${error instanceof Error ? error.message : String(error)}. Fix the file or choose another with --kubeconfig.`,
      );
    }
    // As kubectl merges KUBECONFIG: the first file to name a cluster, user or context wins, and
    // a later one reusing the name (two kubeconfigs of one cluster, often) is no error.
    for (const cluster of part.getClusters())
      if (!kubeConfig.getCluster(cluster.name)) kubeConfig.addCluster(cluster);
    for (const user of part.getUsers()) if (!kubeConfig.getUser(user.name)) kubeConfig.addUser(user);
    for (const context of part.getContexts())
      if (!kubeConfig.getContextObject(context.name)) kubeConfig.addContext(context);
    if (!kubeConfig.getCurrentContext() && part.getCurrentContext())
      kubeConfig.setCurrentContext(part.getCurrentContext());
  }
  const contextName = options.context ?? kubeConfig.getCurrentContext();
  if (!contextName) {
    throw new KubeconfigError(
      `${existing.join(', ')} sets no current-context. Choose one with --context (known: ${
        kubeConfig
          .getContexts()
          .map((c) => c.name)
          .join(', ') || 'none'
      }).`,
    );
  }
  const context = kubeConfig.getContextObject(contextName);
  if (!context) {
    throw new KubeconfigError(
      `There is no context "${contextName}" in ${existing.join(', ')}. Known contexts: ${
        kubeConfig
          .getContexts()
          .map((c) => c.name)
          .join(', ') || 'none'
      }.`,
    );
  }
  kubeConfig.setCurrentContext(contextName);
  const cluster = kubeConfig.getCluster(context.cluster);
  if (!cluster?.server)
    throw new KubeconfigError(
      `The context "${contextName}" names the cluster "${context.cluster}", which has no server in ${existing.join(', ')}.`,
    );
  return {
    kubeConfig,
    name: contextName,
    namespace: context.namespace ?? 'default',
    server: cluster.server,
    files: existing.map((file) => resolve(file)),
  };
}

/**
 * Every context in the kubeconfig (server and namespace only, never credentials) and the current
 * one, for a picker. Throws `KubeconfigError` when there is no usable kubeconfig.
 */
export function listKubeContexts(options: { kubeconfig?: string; env?: NodeJS.ProcessEnv } = {}): {
  contexts: { name: string; server: string; namespace: string }[];
  current: string | null;
} {
  const current = loadKubeContext(options);
  const kubeConfig = current.kubeConfig;
  const contexts = kubeConfig.getContexts().map((context) => ({
    name: context.name,
    server: kubeConfig.getCluster(context.cluster)?.server ?? '',
    namespace: context.namespace ?? 'default',
  }));
  return { contexts, current: current.name };
}
