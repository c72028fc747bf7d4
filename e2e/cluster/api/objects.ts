/** The shapes of Kubernetes objects, as far as the test cluster reads them. Everything else passes through. */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

/** Any object the API serves. Fields the cluster does not model are kept as they were written. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  /** The directory the process starts in; the image's WORKDIR when unset. */
  workingDir?: string;
  env?: { name: string; value?: string }[];
  ports?: ContainerPort[];
  volumeMounts?: VolumeMount[];
  securityContext?: SecurityContext;
  readinessProbe?: Probe;
}

export interface Probe {
  tcpSocket?: { port: number | string };
  httpGet?: { port: number | string; path?: string };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
}

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: KeyToPath[]; optional?: boolean };
  configMap?: { name: string; defaultMode?: number; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: {
    defaultMode?: number;
    items?: {
      path: string;
      mode?: number;
      fieldRef?: { fieldPath: string };
      resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
    }[];
  };
  emptyDir?: Record<string, unknown>;
}

export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  restartPolicy?: string;
  nodeName?: string;
  hostname?: string;
  subdomain?: string;
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
}

export interface Pod extends KubeObject {
  spec: PodSpec & Record<string, unknown>;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  nodePort?: number;
}

export interface ServiceSpec {
  selector?: Record<string, string>;
  ports?: ServicePort[];
  clusterIP?: string;
  clusterIPs?: string[];
  type?: string;
  externalName?: string;
}

export interface Service extends KubeObject {
  spec: ServiceSpec & Record<string, unknown>;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

export interface WorkloadSpec {
  replicas?: number;
  selector: LabelSelector;
  template: PodTemplate;
  serviceName?: string;
  podManagementPolicy?: string;
}

export interface Workload extends KubeObject {
  spec: WorkloadSpec & Record<string, unknown>;
}

/** Reads a nested field without trusting the object's shape. */
export function field(object: unknown, ...path: string[]): unknown {
  let current: unknown = object;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
