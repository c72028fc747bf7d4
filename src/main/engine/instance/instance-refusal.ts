/**
 * The one answer to "is this the user's to fix?": a refusal (bad input, a cluster that says no,
 * a request the instance will not carry out as asked) rather than a bug. The control dispatcher,
 * the backend and the CLI's exit codes all ask here.
 */
import { ConnectError } from '../connect/cluster-access';
import { EnvironmentError } from '../environment/container-environment';
import { ExposeRefusedError } from '../expose/expose-refused-error';
import { KubeconfigError } from '../kube/kubeconfig-error';

/** A request the instance will not carry out as asked; the message says why and what to do. */
export class InstanceRefusedError extends Error {
  override name = 'InstanceRefusedError';
}

/** Whether an error is the user's to fix (a refusal), rather than a bug. */
export function isRefusal(error: unknown): boolean {
  return (
    error instanceof InstanceRefusedError ||
    error instanceof ExposeRefusedError ||
    error instanceof EnvironmentError ||
    error instanceof KubeconfigError ||
    error instanceof ConnectError
  );
}

/** An error as every front end reports it: refused (the user's to fix) or internal, and its message. */
export function toFailure(error: unknown): { code: 'refused' | 'internal'; message: string } {
  return {
    code: isRefusal(error) ? 'refused' : 'internal',
    message: error instanceof Error ? error.message : String(error),
  };
}
