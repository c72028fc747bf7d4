/**
 * A kubeconfig that cannot be used, with a message that says what to do. On its own, so a
 * command that only reports it (the CLI's exit codes) does not load the Kubernetes client.
 */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}
