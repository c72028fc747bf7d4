/**
 * The environment a kubelet gives a container process, following kubelet's own order
 * (pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables): the service variables of the pod's
 * namespace are looked up but added last, `envFrom` sources go in first (prefixed), then each
 * `env` entry, a plain value expanded against everything so far (`$(NAME)`, `$$` for `$`).
 * Missing non-optional references stop the container with CreateContainerConfigError.
 */
import { cpus, totalmem } from 'node:os';
import { field, type Pod } from '../api/objects';
import { resourceTypeOfKind } from '../api/resources';
import type { ObjectStore } from '../api/store';

/** A reference the kubelet cannot resolve: the container waits with this message. */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
}

interface KeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

interface EnvSource {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: KeySelector;
    secretKeyRef?: KeySelector;
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; divisor?: string; containerName?: string };
  };
}

interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface EnvContainer {
  name: string;
  env?: EnvSource[];
  envFrom?: EnvFromSource[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}

const configMaps = resourceTypeOfKind('ConfigMap');
const secrets = resourceTypeOfKind('Secret');
const services = resourceTypeOfKind('Service');
const validName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function dataOf(store: ObjectStore, kind: 'ConfigMap' | 'Secret', namespace: string, name: string) {
  const object = store.get(kind === 'ConfigMap' ? configMaps : secrets, namespace, name);
  if (!object) return undefined;
  const data = (field(object, 'data') ?? {}) as Record<string, string>;
  if (kind === 'ConfigMap') return data;
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** `{SVC}_SERVICE_HOST`, `{SVC}_PORT_80_TCP_ADDR`…: docker-link style variables for a service. */
function serviceVariables(service: {
  metadata: { name?: string };
  spec?: Record<string, unknown>;
}): Record<string, string> {
  const spec = service.spec ?? {};
  const ip = spec.clusterIP as string | undefined;
  if (ip === undefined || ip === '' || ip === 'None') return {};
  const name = (service.metadata.name ?? '').toUpperCase().replace(/-/g, '_');
  const ports = (spec.ports ?? []) as { name?: string; port: number; protocol?: string }[];
  const variables: Record<string, string> = { [`${name}_SERVICE_HOST`]: ip };
  ports.forEach((port, index) => {
    const protocol = port.protocol ?? 'TCP';
    if (index === 0) {
      variables[`${name}_SERVICE_PORT`] = String(port.port);
      variables[`${name}_PORT`] = `${protocol.toLowerCase()}://${ip}:${String(port.port)}`;
    }
    if (port.name)
      variables[`${name}_SERVICE_PORT_${port.name.toUpperCase().replace(/-/g, '_')}`] = String(port.port);
    const prefix = `${name}_PORT_${String(port.port)}_${protocol.toUpperCase()}`;
    variables[prefix] = `${protocol.toLowerCase()}://${ip}:${String(port.port)}`;
    variables[`${prefix}_PROTO`] = protocol.toLowerCase();
    variables[`${prefix}_PORT`] = String(port.port);
    variables[`${prefix}_ADDR`] = ip;
  });
  return variables;
}

/** kubelet's expansion: `$(VAR)` from the mapping, `$$` for a literal `$`, the rest untouched. */
export function expand(input: string, mapping: (name: string) => string | undefined): string {
  return input.replace(/\$\$|\$\(([^)]*)\)/g, (whole: string, name: string | undefined) => {
    if (whole === '$$') return '$';
    return mapping(name ?? '') ?? whole;
  });
}

const binarySuffix: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
const decimalSuffix: Record<string, number> = { m: 0.001, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

function quantity(text: string): number {
  const [, number = '', suffix = ''] = /^([0-9.]+)([A-Za-z]*)$/.exec(text) ?? [];
  const factor = binarySuffix[suffix] ?? decimalSuffix[suffix];
  if (!number || factor === undefined) throw new ContainerConfigError(`invalid quantity ${text}`);
  return Number(number) * factor;
}

export function resourceField(
  container: EnvContainer,
  selector: { resource: string; divisor?: string },
): string {
  const [kind, resource] = selector.resource.split('.');
  // A limit that is not set is the node's allocatable; this node is the host.
  const allocatable: Record<string, string> = { cpu: String(cpus().length), memory: String(totalmem()) };
  const declared =
    kind === 'limits'
      ? (container.resources?.limits?.[resource ?? ''] ?? allocatable[resource ?? ''])
      : (container.resources?.requests?.[resource ?? ''] ?? '0');
  if (declared === undefined) throw new ContainerConfigError(`unsupported resource ${selector.resource}`);
  return String(Math.ceil(quantity(declared) / quantity(selector.divisor ?? '1')));
}

export function podField(pod: Pod, path: string): string {
  const labelled = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (labelled) {
    const map = (labelled[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations) ?? {};
    return map[labelled[2] ?? ''] ?? '';
  }
  const status = (pod as unknown as { status?: Record<string, unknown> }).status ?? {};
  const ips = (list: unknown): string =>
    ((list ?? []) as { ip: string }[]).map((entry) => entry.ip).join(',');
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return (pod.spec.serviceAccountName as string | undefined) ?? '';
    case 'status.hostIP':
      return (status.hostIP as string | undefined) ?? '';
    case 'status.hostIPs':
      return ips(status.hostIPs);
    case 'status.podIP':
      return (status.podIP as string | undefined) ?? '';
    case 'status.podIPs':
      return ips(status.podIPs);
    default:
      throw new ContainerConfigError(`unsupported fieldPath ${path}`);
  }
}

/** The container's variables from its spec; `pod` must carry its status (IPs) already. */
export function containerEnvironment(
  store: ObjectStore,
  pod: Pod,
  container: EnvContainer,
): Record<string, string> {
  const namespace = pod.metadata.namespace ?? 'default';
  const serviceEnv: Record<string, string> = {};
  const linksEnabled = (pod.spec.enableServiceLinks as boolean | undefined) ?? true;
  for (const service of store.list(services)) {
    const own = service.metadata.namespace === namespace;
    const master = service.metadata.namespace === 'default' && service.metadata.name === 'kubernetes';
    if ((own && linksEnabled) || master) Object.assign(serviceEnv, serviceVariables(service));
  }
  const result: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    if (!ref) continue;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const data = dataOf(store, kind, namespace, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(data)) {
      const name = (source.prefix ?? '') + key;
      if (validName.test(name)) result[name] = value;
    }
  }
  const mapping = (name: string): string | undefined => result[name] ?? serviceEnv[name];
  for (const variable of container.env ?? []) {
    let value = variable.value ?? '';
    const from = variable.valueFrom;
    if (value !== '') value = expand(value, mapping);
    else if (from?.configMapKeyRef || from?.secretKeyRef) {
      const ref = (from.configMapKeyRef ?? from.secretKeyRef) as KeySelector;
      const kind = from.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const data = dataOf(store, kind, namespace, ref.name);
      const found = data?.[ref.key];
      if (found === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          data
            ? `couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`
            : `${kind.toLowerCase()} "${ref.name}" not found`,
        );
      }
      value = found;
    } else if (from?.fieldRef) value = podField(pod, from.fieldRef.fieldPath);
    else if (from?.resourceFieldRef) value = resourceField(container, from.resourceFieldRef);
    result[variable.name] = value;
  }
  for (const [name, value] of Object.entries(serviceEnv)) if (!(name in result)) result[name] = value;
  return result;
}
