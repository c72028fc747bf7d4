/** A real client-node API client per group, for tests that read or change the test cluster. */
import * as k8s from '@kubernetes/client-node';

export function kubeClients(kubeconfigPath: string): { core: k8s.CoreV1Api; apps: k8s.AppsV1Api } {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return { core: kubeConfig.makeApiClient(k8s.CoreV1Api), apps: kubeConfig.makeApiClient(k8s.AppsV1Api) };
}
