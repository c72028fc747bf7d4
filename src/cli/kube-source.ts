import { delimiter, resolve } from 'node:path';
import type { KubeSource } from '../shared/control-protocol';

/**
 * The kubeconfig this command would read, so the instance that acts on it reads the same files.
 * Paths are made absolute: the instance runs in another directory.
 */
export function kubeSource(kubeconfig: string | undefined): KubeSource {
  const fromEnv = process.env.KUBECONFIG;
  return {
    ...(kubeconfig ? { kubeconfig: resolve(kubeconfig) } : {}),
    ...(fromEnv
      ? {
          kubeconfigEnv: fromEnv
            .split(delimiter)
            .map((file) => (file ? resolve(file) : file))
            .join(delimiter),
        }
      : {}),
  };
}
