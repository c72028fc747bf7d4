/**
 * An expose Localizer refuses, with a message that says why and what to do. On its own, so a
 * command that only parses or reports one does not load the Kubernetes client.
 */
export class ExposeRefusedError extends Error {
  override name = 'ExposeRefusedError';
}
