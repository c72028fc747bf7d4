// @ts-check
/** What every test-image program shares: its ports, its pod's address, and dying with the cluster. */

/** @returns {number[]} the ports the container declares (the kubelet passes them), or `fallback`. */
export function containerPorts(/** @type {number} */ fallback) {
  const ports = (process.env.LOCALIZER_CONTAINER_PORTS ?? '')
    .split(',')
    .filter((p) => p.length > 0)
    .map(Number);
  return ports.length > 0 ? ports : [fallback];
}

/** @returns {number[]} the UDP ports the container declares. */
export function containerUdpPorts() {
  return (process.env.LOCALIZER_CONTAINER_UDP_PORTS ?? '')
    .split(',')
    .filter((p) => p.length > 0)
    .map(Number);
}

/** The address to bind: pods share the host's network, each on its own loopback IP. */
export const podIp = process.env.POD_IP ?? '127.0.0.1';

/**
 * A container never outlives the cluster that started it, even after a SIGKILL of the cluster.
 * The kubelet names itself (LOCALIZER_KUBELET_PID): a container started just as the cluster
 * exited is reparented before it runs, so `process.ppid` at start would already be the wrong one.
 */
export function exitWithParent() {
  const parent = Number(process.env.LOCALIZER_KUBELET_PID) || process.ppid;
  const check = () => {
    if (process.ppid !== parent) process.exit(0);
  };
  check();
  setInterval(check, 500).unref();
}
