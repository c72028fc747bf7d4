/**
 * The names a Service answers to from the laptop, as cluster DNS gives them inside a pod:
 *   svc.ns, svc.ns.svc, svc.ns.svc.<domain>, and for pods with a hostname under a headless
 *   service, pod.svc.ns, pod.svc.ns.svc, pod.svc.ns.svc.<domain>.
 * A bare `svc` is added only for services in the context's own namespace (where a pod of that
 * namespace would resolve it), and only if no other connected context claims it too.
 */
import { isValidHostname } from '../../../shared/hostnames';

export function serviceNames(options: {
  name: string;
  namespace: string;
  clusterDomain: string;
  bare: boolean;
}): string[] {
  const { name, namespace, clusterDomain } = options;
  const names = [
    `${name}.${namespace}`,
    `${name}.${namespace}.svc`,
    `${name}.${namespace}.svc.${clusterDomain}`,
  ];
  if (options.bare) names.unshift(name);
  return names.filter(isValidHostname);
}

export function podNames(options: {
  hostname: string;
  service: string;
  namespace: string;
  clusterDomain: string;
}): string[] {
  const { hostname, service, namespace, clusterDomain } = options;
  return [
    `${hostname}.${service}.${namespace}`,
    `${hostname}.${service}.${namespace}.svc`,
    `${hostname}.${service}.${namespace}.svc.${clusterDomain}`,
  ].filter(isValidHostname);
}
