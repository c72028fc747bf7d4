/** What a connect may ask for, checked the same way by the CLI (before sending) and the instance. */
import { isValidHostname } from '../../../shared/hostnames';
import { loopbackRange, parseIpv4Range, rangeWithin } from '../../../shared/ipv4-range';

export interface ConnectOptions {
  ipRange: string;
  clusterDomain: string;
  namespaces: readonly string[];
  excludeNamespaces: readonly string[];
  /** Whether what port-forward cannot reach goes through a relay pod. */
  relays: boolean;
  relayImage: string;
}

/**
 * The one place a connect's defaults are merged in: each option as asked, else the default
 * (Settings in the app, the built-in defaults for the CLI's own check).
 */
export function withConnectDefaults(
  asked: Partial<ConnectOptions>,
  defaults: ConnectOptions,
): ConnectOptions {
  return {
    ipRange: asked.ipRange ?? defaults.ipRange,
    clusterDomain: asked.clusterDomain ?? defaults.clusterDomain,
    namespaces: asked.namespaces ?? defaults.namespaces,
    excludeNamespaces: asked.excludeNamespaces ?? defaults.excludeNamespaces,
    relays: asked.relays ?? defaults.relays,
    relayImage: asked.relayImage ?? defaults.relayImage,
  };
}

const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why these options cannot work, naming the option, or undefined when they can. */
export function connectOptionsProblem(options: ConnectOptions): string | undefined {
  let range;
  try {
    range = parseIpv4Range(options.ipRange);
  } catch (error) {
    return `--ip-range: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!rangeWithin(range, loopbackRange))
    return `--ip-range must lie inside 127.0.0.0/8 (loopback), got ${options.ipRange}`;
  if (range.end - range.first < 256)
    return `--ip-range ${options.ipRange} is too small: use a /24 or larger, so every service can have its own address`;
  if (!isValidHostname(options.clusterDomain))
    return `--cluster-domain ${JSON.stringify(options.clusterDomain)} is not a valid DNS name`;
  for (const namespace of [...options.namespaces, ...options.excludeNamespaces]) {
    if (!namespacePattern.test(namespace))
      return `${JSON.stringify(namespace)} is not a valid namespace name`;
  }
  return undefined;
}
