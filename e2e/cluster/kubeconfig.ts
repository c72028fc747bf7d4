/** Writes the test cluster's kubeconfig: an admin context and an RBAC-limited one, CA pinned. */
import { writeFileSync, chmodSync } from 'node:fs';

export interface KubeconfigContext {
  name: string;
  user: string;
  token: string;
  namespace: string;
}

export const adminContext = 'localizer-test';
export const restrictedContext = 'localizer-test-restricted';

function quote(value: string): string {
  return JSON.stringify(value);
}

/** Renders the kubeconfig YAML; the first context is the current one. */
export function renderKubeconfig(server: string, caPem: string, contexts: KubeconfigContext[]): string {
  const ca = Buffer.from(caPem).toString('base64');
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'preferences: {}',
    'clusters:',
    '- name: localizer-test',
    '  cluster:',
    `    server: ${quote(server)}`,
    `    certificate-authority-data: ${ca}`,
    'contexts:',
    ...contexts.flatMap((c) => [
      `- name: ${quote(c.name)}`,
      '  context:',
      '    cluster: localizer-test',
      `    user: ${quote(c.user)}`,
      `    namespace: ${quote(c.namespace)}`,
    ]),
    `current-context: ${quote(contexts[0]?.name ?? '')}`,
    'users:',
    ...contexts.flatMap((c) => [`- name: ${quote(c.user)}`, '  user:', `    token: ${quote(c.token)}`]),
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes `content` readable by its owner only, as kubeconfigs hold credentials. */
export function writeKubeconfig(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}
