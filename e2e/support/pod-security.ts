/**
 * The Pod Security Standards' "restricted" profile, as the API server's admission checks a pod
 * (k8s.io/pod-security-admission, policy version latest), for the pods Localizer creates: a
 * namespace that enforces it must admit each of them. Returns what it would refuse, in its words.
 */
import type * as k8s from '@kubernetes/client-node';

/** Sysctls the baseline profile allows (and so restricted, which inherits it). */
const safeSysctls = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

/** Volume types restricted allows. */
const allowedVolumes = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
] as const;

export function restrictedViolations(pod: k8s.V1Pod): string[] {
  const spec = pod.spec;
  if (!spec) return ['no spec'];
  const problems: string[] = [];
  const podContext = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push('host namespaces');
  for (const sysctl of podContext.sysctls ?? [])
    if (!safeSysctls.has(sysctl.name)) problems.push(`forbidden sysctl ${sysctl.name}`);
  for (const volume of spec.volumes ?? []) {
    const kinds = Object.keys(volume).filter((key) => key !== 'name');
    if (!kinds.every((kind) => (allowedVolumes as readonly string[]).includes(kind)))
      problems.push(`restricted volume type in ${volume.name}`);
  }
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const context = container.securityContext ?? {};
    const name = `container ${container.name}`;
    if (context.privileged) problems.push(`${name}: privileged`);
    if (context.allowPrivilegeEscalation !== false)
      problems.push(`${name}: allowPrivilegeEscalation != false`);
    const drops = context.capabilities?.drop ?? [];
    if (!drops.includes('ALL')) problems.push(`${name}: must drop ALL capabilities`);
    const added = (context.capabilities?.add ?? []).filter((c) => c !== 'NET_BIND_SERVICE');
    if (added.length > 0) problems.push(`${name}: adds ${added.join(', ')}`);
    if ((context.runAsNonRoot ?? podContext.runAsNonRoot) !== true)
      problems.push(`${name}: runAsNonRoot != true`);
    if ((context.runAsUser ?? podContext.runAsUser) === 0) problems.push(`${name}: runAsUser=0`);
    const seccomp = (context.seccompProfile ?? podContext.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${name}: seccompProfile must be RuntimeDefault or Localhost`);
    if ((container.ports ?? []).some((p) => p.hostPort)) problems.push(`${name}: hostPort`);
  }
  return problems;
}
