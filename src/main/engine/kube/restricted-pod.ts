/**
 * The security settings every pod Localizer makes carries, so it passes Pod Security
 * "restricted": a non-root account, the runtime's default seccomp profile, no privilege
 * escalation, no capabilities, a read-only root. Written once, for the SSH, relay and router pods.
 */
import type * as k8s from '@kubernetes/client-node';

export function restrictedPodSecurity(
  uid: number,
  options: {
    /** It listens on a port below 1024 (a service's port 80), which a non-root process may not. */
    lowPorts?: boolean;
    /** Its volumes' files belong to the account's group. */
    fsGroup?: boolean;
  } = {},
): k8s.V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    ...(options.fsGroup ? { fsGroup: uid } : {}),
    seccompProfile: { type: 'RuntimeDefault' },
    // Lets a non-root process listen on port 80: a namespaced sysctl "restricted" allows.
    ...(options.lowPorts ? { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] } : {}),
  };
}

export const restrictedContainerSecurity: k8s.V1SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};
