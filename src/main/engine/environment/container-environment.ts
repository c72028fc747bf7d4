/**
 * A container's environment as the kubelet builds it, from objects already read: service-link
 * variables first, then `envFrom` sources in order (with their prefixes), then `env` in order,
 * each later definition overriding an earlier one, `$(VAR)` expanded against what is defined so
 * far, and service links filling only names nothing else set. Pure: what to read, and what the
 * account may not read, come from `EnvironmentSources`.
 */
import type * as k8s from '@kubernetes/client-node';
import { parseQuantity } from './quantity';

/** An object as it was read: its data, or why it could not be. */
export type Readable<T> = { found: T } | { missing: true } | { forbidden: string };

export interface EnvironmentSources {
  configMap(name: string): Readable<Record<string, string>>;
  /** Values decoded from base64. */
  secret(name: string): Readable<Record<string, string>>;
  /** The pod a `fieldRef` reads (a running pod of the workload); undefined when none runs. */
  pod: k8s.V1Pod | undefined;
  /** The services of the pod's namespace (and `default/kubernetes`), for service links. */
  services: k8s.V1Service[];
}

export type VariableSource = 'value' | 'configMap' | 'secret' | 'field' | 'resource' | 'service-link';

export interface ResolvedVariable {
  name: string;
  value: string;
  from: VariableSource;
  /** Read from a Secret: never logged, masked where shown. */
  secret: boolean;
  /** The object it came from, e.g. `secret web/orders-db`. */
  origin: string;
}

export interface UnresolvedVariable {
  name: string;
  /** Why it has no value here, and what fixes it. */
  reason: string;
}

export interface ResolvedEnvironment {
  /** In the order the kubelet last defined them. */
  variables: ResolvedVariable[];
  unresolved: UnresolvedVariable[];
}

/** A reference the kubelet would refuse to start the container for (CreateContainerConfigError). */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
}

const envVarName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** `$(NAME)` from `lookup`, `$$` as a literal `$`; anything unresolved stays as written. */
export function expandReferences(value: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const char = value.charAt(i);
    if (char !== '$' || i + 1 >= value.length) {
      out += char;
      continue;
    }
    const next = value[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = value.indexOf(')', i + 2);
      if (close < 0) {
        out += value.slice(i);
        break;
      }
      const name = value.slice(i + 2, close);
      out += lookup(name) ?? `$(${name})`;
      i = close;
    } else {
      out += char;
    }
  }
  return out;
}

/** The variables a service gives every pod started after it in its namespace (service links). */
export function serviceLinkVariables(service: k8s.V1Service): [string, string][] {
  const ip = service.spec?.clusterIP;
  if (!ip || ip === 'None') return [];
  const prefix = (service.metadata?.name ?? '').toUpperCase().replaceAll('-', '_');
  const ports = service.spec?.ports ?? [];
  const out: [string, string][] = [[`${prefix}_SERVICE_HOST`, ip]];
  const first = ports[0];
  if (first) out.push([`${prefix}_SERVICE_PORT`, String(first.port)]);
  for (const port of ports) {
    if (port.name)
      out.push([`${prefix}_SERVICE_PORT_${port.name.toUpperCase().replaceAll('-', '_')}`, String(port.port)]);
  }
  if (first)
    out.push([`${prefix}_PORT`, `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${String(first.port)}`]);
  for (const port of ports) {
    const protocol = port.protocol ?? 'TCP';
    const base = `${prefix}_PORT_${String(port.port)}_${protocol.toUpperCase()}`;
    out.push(
      [base, `${protocol.toLowerCase()}://${ip}:${String(port.port)}`],
      [`${base}_PROTO`, protocol.toLowerCase()],
      [`${base}_PORT`, String(port.port)],
      [`${base}_ADDR`, ip],
    );
  }
  return out;
}

/** `metadata.labels['app']` and the other paths a `fieldRef` may name. */
export function podField(pod: k8s.V1Pod, path: string): string | undefined {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) {
    const map = keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[keyed[2] ?? ''] ?? '';
  }
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.hostIP': pod.status?.hostIP,
    'status.hostIPs': pod.status?.hostIPs?.map((i) => i.ip).join(','),
    'status.podIP': pod.status?.podIP,
    'status.podIPs': pod.status?.podIPs?.map((i) => i.ip).join(','),
  };
  return path in fields ? (fields[path] ?? '') : undefined;
}

/** `limits.memory` and friends, divided and rounded up as the kubelet does. */
export function resourceValue(
  container: k8s.V1Container,
  selector: k8s.V1ResourceFieldSelector,
): string | undefined {
  const [kind, resource] = selector.resource.split('.', 2) as ['limits' | 'requests', string];
  const declared = (kind === 'limits' ? container.resources?.limits : container.resources?.requests)?.[
    resource
  ];
  const divisor = parseQuantity(selector.divisor ?? '1');
  if (declared === undefined) {
    // A request that is not set is zero; a limit that is not set is the node's allocatable.
    return kind === 'requests' ? '0' : undefined;
  }
  return String(Math.ceil(parseQuantity(declared) / divisor));
}

export function resolveContainerEnvironment(
  namespace: string,
  podSpec: k8s.V1PodSpec,
  container: k8s.V1Container,
  sources: EnvironmentSources,
): ResolvedEnvironment {
  const defined = new Map<string, ResolvedVariable>();
  const unresolved: UnresolvedVariable[] = [];
  const define = (variable: ResolvedVariable): void => {
    defined.delete(variable.name); // so the order is that of the last definition
    defined.set(variable.name, variable);
  };
  const links = new Map<string, string>();
  const linksOn = podSpec.enableServiceLinks ?? true;
  for (const service of sources.services) {
    const own = service.metadata?.namespace === namespace;
    const master = service.metadata?.namespace === 'default' && service.metadata.name === 'kubernetes';
    if ((own && linksOn) || master)
      for (const [name, value] of serviceLinkVariables(service)) links.set(name, value);
  }

  for (const from of container.envFrom ?? []) {
    const isSecret = from.secretRef !== undefined;
    const reference = from.configMapRef ?? from.secretRef;
    if (!reference?.name) continue;
    const kind = isSecret ? 'secret' : 'configMap';
    const read = isSecret ? sources.secret(reference.name) : sources.configMap(reference.name);
    const origin = `${isSecret ? 'secret' : 'configmap'} ${namespace}/${reference.name}`;
    if ('forbidden' in read) {
      unresolved.push({
        name: `${from.prefix ?? ''}*`,
        reason: `every variable from ${origin}: ${read.forbidden}`,
      });
      continue;
    }
    if ('missing' in read) {
      if (reference.optional) continue;
      throw new EnvironmentError(`envFrom names ${origin}, which does not exist (and is not optional).`);
    }
    for (const [key, value] of Object.entries(read.found)) {
      const name = `${from.prefix ?? ''}${key}`;
      // The kubelet skips keys that are not valid variable names, and says so in an event.
      if (!envVarName.test(name)) continue;
      define({ name, value, from: kind, secret: isSecret, origin });
    }
  }

  const lookup = (name: string): string | undefined => defined.get(name)?.value ?? links.get(name);
  for (const variable of container.env ?? []) {
    const source = variable.valueFrom;
    if (!source || (variable.value !== undefined && variable.value !== '')) {
      // A value that takes in a Secret's ($(DB_PASSWORD) in a URL) holds the secret too.
      const used = { secret: false };
      const value = expandReferences(variable.value ?? '', (name) => {
        if (defined.get(name)?.secret) used.secret = true;
        return lookup(name);
      });
      define({
        name: variable.name,
        value,
        from: 'value',
        secret: used.secret,
        origin: used.secret ? 'the pod spec, with a Secret’s value in it' : 'the pod spec',
      });
      continue;
    }
    const keyRef = source.configMapKeyRef ?? source.secretKeyRef;
    if (keyRef?.name) {
      const isSecret = source.secretKeyRef !== undefined;
      const origin = `${isSecret ? 'secret' : 'configmap'} ${namespace}/${keyRef.name}`;
      const read = isSecret ? sources.secret(keyRef.name) : sources.configMap(keyRef.name);
      if ('forbidden' in read) {
        unresolved.push({ name: variable.name, reason: `${origin}, key ${keyRef.key}: ${read.forbidden}` });
        continue;
      }
      const value = 'found' in read ? read.found[keyRef.key] : undefined;
      if (value === undefined) {
        if (keyRef.optional) continue;
        throw new EnvironmentError(
          'missing' in read
            ? `${variable.name} reads ${origin}, which does not exist (and is not optional).`
            : `${variable.name} reads key ${keyRef.key} of ${origin}, which has no such key (and is not optional).`,
        );
      }
      define({
        name: variable.name,
        value,
        from: isSecret ? 'secret' : 'configMap',
        secret: isSecret,
        origin,
      });
      continue;
    }
    if (source.fieldRef) {
      if (!sources.pod) {
        unresolved.push({
          name: variable.name,
          reason: `reads ${source.fieldRef.fieldPath} of a running pod, and none of the workload runs`,
        });
        continue;
      }
      const value = podField(sources.pod, source.fieldRef.fieldPath);
      if (value === undefined)
        throw new EnvironmentError(`${variable.name}: unsupported fieldPath ${source.fieldRef.fieldPath}.`);
      define({
        name: variable.name,
        value,
        from: 'field',
        secret: false,
        origin: `pod ${namespace}/${sources.pod.metadata?.name ?? ''}`,
      });
      continue;
    }
    if (source.resourceFieldRef) {
      const value = resourceValue(container, source.resourceFieldRef);
      if (value === undefined) {
        unresolved.push({
          name: variable.name,
          reason: `${source.resourceFieldRef.resource} is not set on the container, so the kubelet gives the node's allocatable, which depends on the node it runs on`,
        });
        continue;
      }
      define({
        name: variable.name,
        value,
        from: 'resource',
        secret: false,
        origin: 'the container resources',
      });
    }
  }

  for (const [name, value] of links) {
    if (!defined.has(name))
      define({ name, value, from: 'service-link', secret: false, origin: 'service links' });
  }
  return { variables: [...defined.values()], unresolved };
}
