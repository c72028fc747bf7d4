/**
 * What each operation of the instance is asked, as every front end (window, tray, CLI, control
 * socket) hands it over, and how a connect's outcome is said.
 */
import type { KubeSource } from '../../../shared/control-protocol';
import type { ExposeRequest } from '../expose/expose-request';

export interface ConnectRequest {
  source?: KubeSource;
  /** Empty: the kubeconfig's current context. */
  contexts: string[];
  namespaces?: string[];
  excludeNamespaces?: string[];
  clusterDomain?: string;
  ipRange?: string;
  names: boolean;
  relays?: boolean;
  relayImage?: string;
}

export interface EnvironmentRequest {
  source?: KubeSource;
  context?: string;
  namespace: string;
  /** `deploy/NAME`, `sts/NAME`, `pod/NAME` or a service's name. */
  workload: string;
  container?: string;
  files?: boolean;
}

/** An expose as the session takes it, and which kubeconfig and context it is for. */
export type ExposeInstanceRequest = ExposeRequest & { source?: KubeSource; context?: string };

/** What a connect left for the cluster to fix: forwards with no ready pod, and ones that failed. */
export interface Settled {
  waiting: string[];
  failed: string[];
}

/** `; 2 wait for a ready pod (web/a, web/b)`, or nothing when every forward runs. */
export function describeSettled(settled: Settled): string {
  const list = (names: string[]): string =>
    names.length > 3
      ? `${names.slice(0, 3).join(', ')} and ${String(names.length - 3)} more`
      : names.join(', ');
  return [
    settled.waiting.length > 0
      ? `; ${String(settled.waiting.length)} wait${settled.waiting.length === 1 ? 's' : ''} for a ready pod (${list(settled.waiting)})`
      : '',
    settled.failed.length > 0
      ? `; ${String(settled.failed.length)} failed (${list(settled.failed)}; \`localizer list\` says why)`
      : '',
  ].join('');
}
