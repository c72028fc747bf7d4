/**
 * Routers whose developers are gone. A route is abandoned once its SSH pod is (its owner's
 * cleanup deleted it, or it was never made): it is taken out of the router's state, so a
 * restarted router no longer has it (the running one already sends its requests to the origin,
 * as the slot's health check failed). A router with no route left is of no use to anyone,
 * whoever made it: the Service gets its selector back and the router's objects go.
 */
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../../kube/api-errors';
import { listEverywhere } from '../../kube/list-everywhere';
import { localizerKeys } from '../../kube/localizer-keys';
import { describeSelector, giveBack } from '../service-takeover';
import { removeRouterObjects, routerConfigData, routerObjects } from './router-objects';
import { parseRouterState, stateKey, withoutRoute, type RouterState } from './router-state';

const routerLabel = `${localizerKeys.role}=router`;

function listRouters(core: k8s.CoreV1Api, namespaces: readonly string[]): Promise<k8s.V1ConfigMap[]> {
  return listEverywhere(
    () => core.listConfigMapForAllNamespaces({ labelSelector: routerLabel }),
    (namespace) => core.listNamespacedConfigMap({ namespace, labelSelector: routerLabel }),
    namespaces,
  );
}

async function podExists(core: k8s.CoreV1Api, namespace: string, name: string): Promise<boolean> {
  try {
    const pod = await core.readNamespacedPod({ namespace, name });
    return !pod.metadata?.deletionTimestamp;
  } catch (error) {
    if (errorStatus(error) === 404) return false;
    return true; // Unknown: kept, as a live route must never be dropped.
  }
}

/** Writes `next` over the router's ConfigMap as read; false when someone wrote in between. */
async function guardedWrite(
  core: k8s.CoreV1Api,
  configMap: k8s.V1ConfigMap,
  next: RouterState,
): Promise<boolean> {
  try {
    await core.replaceNamespacedConfigMap({
      namespace: configMap.metadata?.namespace ?? '',
      name: configMap.metadata?.name ?? '',
      body: { metadata: configMap.metadata, data: routerConfigData(next) },
    });
    return true;
  } catch (error) {
    if (errorStatus(error) === 409) return false;
    throw error;
  }
}

/**
 * A router whose ConfigMap holds nothing readable (edited by hand, or from a version of
 * Localizer that wrote another shape): removed only when forced, giving its Service back by the
 * record on the Service itself.
 */
async function removeUnreadable(
  core: k8s.CoreV1Api,
  configMap: k8s.V1ConfigMap,
  service: string,
): Promise<string> {
  const namespace = configMap.metadata?.namespace ?? '';
  const names = routerObjects(service);
  const held = await core.readNamespacedService({ namespace, name: service }).catch(() => undefined);
  const session = held?.metadata?.annotations?.[localizerKeys.session];
  const given =
    session && held.metadata?.annotations?.[localizerKeys.router] === names.configMap
      ? await giveBack(core, { namespace, name: service }, session)
      : undefined;
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `${localizerKeys.router}=${names.configMap}`,
  });
  for (const pod of pods.items)
    await core.deleteNamespacedPod({ namespace, name: pod.metadata?.name ?? '' }).catch(() => undefined);
  await removeRouterObjects(core, namespace, names, {
    pod: undefined,
    configMapUid: configMap.metadata?.uid,
  });
  return `removed the router of ${namespace}/${service}, whose state was unreadable${given?.outcome === 'restored' ? `, and gave ${namespace}/${service} its own selector back` : ''}`;
}

export async function cleanUpRouters(
  core: k8s.CoreV1Api,
  namespaces: readonly string[],
  /** What was done, left alone and failed, one line each (the cleanup report's). */
  report: { done: string[]; skipped: string[]; failed: string[] },
  /** Also remove routers whose state cannot be read. */
  force = false,
): Promise<void> {
  const routers = await listRouters(core, namespaces).catch((error: unknown) => {
    report.failed.push(`could not list the personal-intercept routers: ${describeError(error)}`);
    return [];
  });
  for (const configMap of routers) {
    const namespace = configMap.metadata?.namespace ?? '';
    const service = configMap.metadata?.annotations?.[localizerKeys.service] ?? '';
    const state = parseRouterState(configMap.data?.[stateKey]);
    if (!namespace || !service) continue;
    const what = `the router of ${namespace}/${service}`;
    try {
      if (!state) {
        if (force) report.done.push(await removeUnreadable(core, configMap, service));
        else
          report.skipped.push(
            `${what} holds a state Localizer cannot read; run \`localizer cleanup --force\` to remove it`,
          );
        continue;
      }
      let next = state;
      for (const route of state.routes)
        if (!(await podExists(core, namespace, route.pod))) next = withoutRoute(next, route.session);
      // A router is made with its maker's route in it, so one being made has a live route.
      if (next.routes.length > 0) {
        // Changed meanwhile (someone joined or left): the next cleanup looks again.
        if (next.routes.length < state.routes.length && (await guardedWrite(core, configMap, next)))
          report.done.push(
            `took ${String(state.routes.length - next.routes.length)} abandoned route(s) off ${what}`,
          );
        continue;
      }
      // Marked closing first, guarded by the version read: a developer who joined meanwhile
      // makes this write fail, and the router stays for them.
      if (!(await guardedWrite(core, configMap, next))) continue;
      const given = await giveBack(core, { namespace, name: service }, state.session, state.originalSelector);
      await removeRouterObjects(core, namespace, routerObjects(service), {
        pod: state.pod,
        configMapUid: configMap.metadata?.uid,
      });
      report.done.push(
        given.outcome === 'restored'
          ? `removed ${what}, whose developers are gone, and gave ${namespace}/${service} its own selector back (${describeSelector(state.originalSelector)})`
          : `removed ${what}, whose developers are gone`,
      );
    } catch (error) {
      report.failed.push(`could not clean up ${what}: ${describeError(error)}`);
    }
  }
}
