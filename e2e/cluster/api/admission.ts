/**
 * What the API server does to an object before storing it: validation with the real error texts,
 * and the defaults kubectl and our clients read back (service ports, pod restart policy, replicas).
 */
import { errors } from './status-errors';
import { isRecord, type KubeObject, type Pod, type PodSpec, type Service, type Workload } from './objects';
import { labelSelectorMatcher } from './selectors';
import type { ResourceType } from './resources';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

interface Cause {
  field: string;
  message: string;
}

function invalidValue(value: unknown, detail: string): string {
  return `Invalid value: ${JSON.stringify(value)}: ${detail}`;
}

function nameProblem(kind: string, name: string): string | undefined {
  if (kind === 'Service') {
    if (name.length > 63 || !dns1035Label.test(name)) {
      return invalidValue(
        name,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      );
    }
    return undefined;
  }
  if (kind === 'Namespace') {
    if (name.length > 63 || !dns1123Label.test(name)) {
      return invalidValue(
        name,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      );
    }
    return undefined;
  }
  if (name.length > 253 || !dns1123Subdomain.test(name)) {
    return invalidValue(
      name,
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
  }
  return undefined;
}

function validPort(port: unknown): boolean {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}

function admitService(service: Service, causes: Cause[]): void {
  const spec = service.spec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  const ports = spec.ports ?? [];
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) causes.push({ field: 'spec.externalName', message: 'Required value' });
  } else if (ports.length === 0) causes.push({ field: 'spec.ports', message: 'Required value' });
  // Every type's ports are defaulted and checked, an ExternalName's too (the API server's
  // SetDefaults_Service knows no type): a client reads `protocol: TCP` on each.
  ports.forEach((port, index) => {
    port.protocol ??= 'TCP';
    port.targetPort ??= port.port;
    if (!validPort(port.port)) {
      causes.push({
        field: `spec.ports[${index}].port`,
        message: invalidValue(port.port, 'must be between 1 and 65535, inclusive'),
      });
    }
    if (!['TCP', 'UDP', 'SCTP'].includes(port.protocol)) {
      causes.push({
        field: `spec.ports[${index}].protocol`,
        message: `Unsupported value: "${port.protocol}": supported values: "SCTP", "TCP", "UDP"`,
      });
    }
    if (ports.length > 1 && !port.name) {
      causes.push({ field: `spec.ports[${index}].name`, message: 'Required value' });
    }
  });
}

function admitPodSpec(spec: PodSpec & Record<string, unknown>, path: string, causes: Cause[]): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    causes.push({ field: `${path}.containers`, message: 'Required value' });
    return;
  }
  spec.containers.forEach((container, index) => {
    if (!container.name)
      causes.push({ field: `${path}.containers[${index}].name`, message: 'Required value' });
    if (!container.image)
      causes.push({ field: `${path}.containers[${index}].image`, message: 'Required value' });
    for (const port of container.ports ?? []) port.protocol ??= 'TCP';
    const withPolicy = container as typeof container & {
      imagePullPolicy?: string;
      terminationMessagePath?: string;
    };
    withPolicy.imagePullPolicy ??=
      container.image.endsWith(':latest') || !container.image.includes(':') ? 'Always' : 'IfNotPresent';
    withPolicy.terminationMessagePath ??= '/dev/termination-log';
  });
}

function admitWorkload(workload: Workload, causes: Cause[]): void {
  const spec = workload.spec;
  spec.replicas ??= 1;
  if (typeof spec.replicas !== 'number' || spec.replicas < 0) {
    causes.push({
      field: 'spec.replicas',
      message: invalidValue(spec.replicas, 'must be greater than or equal to 0'),
    });
  }
  if (!isRecord(spec.selector)) {
    causes.push({ field: 'spec.selector', message: 'Required value' });
    return;
  }
  if (!isRecord(spec.template)) {
    causes.push({ field: 'spec.template', message: 'Required value' });
    return;
  }
  const labels = spec.template.metadata?.labels ?? {};
  if (!labelSelectorMatcher(spec.selector)(labels)) {
    causes.push({
      field: 'spec.template.metadata.labels',
      message: `Invalid value: map[string]string${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
    });
  }
  admitPodSpec(spec.template.spec as PodSpec & Record<string, unknown>, 'spec.template.spec', causes);
  if (workload.kind === 'StatefulSet') {
    spec.podManagementPolicy ??= 'OrderedReady';
    spec.serviceName ??= '';
  }
}

function admitSecret(secret: KubeObject, causes: Cause[]): void {
  secret.type ??= 'Opaque';
  const data = isRecord(secret.data) ? secret.data : {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
      causes.push({
        field: `data[${key}]`,
        message: 'Invalid value: "<secret contents redacted>": illegal base64 data',
      });
    }
  }
  if (isRecord(secret.stringData)) {
    for (const [key, value] of Object.entries(secret.stringData)) {
      data[key] = Buffer.from(String(value)).toString('base64');
    }
    delete secret.stringData;
  }
  secret.data = data;
}

/**
 * Validates and defaults `object` for a create or update of `type`. Throws a 422 Invalid
 * `ApiError` listing every problem, as the API server does.
 */
export function admit(type: ResourceType, object: KubeObject): void {
  const causes: Cause[] = [];
  const name = object.metadata.name ?? '';
  if (!name && !object.metadata.generateName) {
    causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
  } else if (name) {
    const problem = nameProblem(type.kind, name);
    if (problem) causes.push({ field: 'metadata.name', message: problem });
  }
  switch (type.kind) {
    case 'Service':
      if (!isRecord(object.spec)) object.spec = {};
      admitService(object as Service, causes);
      break;
    case 'Pod':
      if (!isRecord(object.spec)) {
        causes.push({ field: 'spec.containers', message: 'Required value' });
        break;
      }
      admitPodSpec((object as Pod).spec, 'spec', causes);
      break;
    case 'Deployment':
    case 'ReplicaSet':
    case 'StatefulSet':
      if (!isRecord(object.spec)) {
        causes.push({ field: 'spec.selector', message: 'Required value' });
        break;
      }
      admitWorkload(object as Workload, causes);
      break;
    case 'Secret':
      admitSecret(object, causes);
      break;
  }
  if (causes.length > 0)
    throw errors.invalid(type.kind, type.group, name || (object.metadata.generateName ?? ''), causes);
}
