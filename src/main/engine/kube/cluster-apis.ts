/**
 * One context's Kubernetes API clients, made once from its kubeconfig and shared by everything
 * that talks to that cluster (connect, its relay, exposes, `env`), so a credential plugin's
 * token and the HTTP agent are the context's, not each caller's.
 */
import * as k8s from '@kubernetes/client-node';
import type { PodDialer } from './pod-dialer';

export interface ClusterApis {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  autoscaling: k8s.AutoscalingV2Api;
  discovery: k8s.DiscoveryV1Api;
  authorization: k8s.AuthorizationV1Api;
}

/** What talks to one context's cluster: its API clients and its port-forward dialer. */
export interface ClusterClients {
  apis: ClusterApis;
  dialer: PodDialer;
}

export function makeClusterApis(kubeConfig: k8s.KubeConfig): ClusterApis {
  return {
    core: kubeConfig.makeApiClient(k8s.CoreV1Api),
    apps: kubeConfig.makeApiClient(k8s.AppsV1Api),
    autoscaling: kubeConfig.makeApiClient(k8s.AutoscalingV2Api),
    discovery: kubeConfig.makeApiClient(k8s.DiscoveryV1Api),
    authorization: kubeConfig.makeApiClient(k8s.AuthorizationV1Api),
  };
}
