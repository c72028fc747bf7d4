/**
 * Routers whose developers are gone. A route is abandoned once its SSH pod is (its owner's
 * cleanup deleted it, or it was never made): it is taken out of the router's state, so a
 * restarted router no longer has it (the running one already sends its requests to the origin,
 * as the slot's health check failed). A router with no route left is of no use to anyone,
 * whoever made it: the Service gets its selector back and the router's objects go.
 */
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorStatus } from '../../kube/api-errors';
import { localizerKeys } from '../../kube/localizer-keys';
import { describeSelector, giveBack } from '../service-takeover';
import { removeRouterObjects, routerConfigData, routerObjects } from './router-objects';
import { parseRouterState, stateKey, withoutRoute } from './router-state';

const routerLabel = `${localizerKeys.role}=router`;

async function listRouters(core: k8s.CoreV1Api, namespaces: readonly string[]): Promise<k8s.V1ConfigMap[]> {
  try {
    return (await core.listConfigMapForAllNamespaces({ labelSelector: routerLabel })).items;
  } catch (error) {
    if (errorStatus(error) !== 403) throw error;
    const lists = await Promise.all(
      namespaces.map((namespace) =>
        core.listNamespacedConfigMap({ namespace, labelSelector: routerLabel }).catch(() => ({ items: [] })),
      ),
    );
    return lists.flatMap((list) => list.items);
  }
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

export async function cleanUpRouters(
  core: k8s.CoreV1Api,
  namespaces: readonly string[],
  /** What was done and what failed, one line each (the cleanup report's). */
  report: { done: string[]; failed: string[] },
): Promise<void> {
  const routers = await listRouters(core, namespaces).catch((error: unknown) => {
    report.failed.push(`could not list the personal-intercept routers: ${describeError(error)}`);
    return [];
  });
  for (const configMap of routers) {
    const namespace = configMap.metadata?.namespace ?? '';
    const service = configMap.metadata?.annotations?.[localizerKeys.service] ?? '';
    const state = parseRouterState(configMap.data?.[stateKey]);
    if (!namespace || !service || !state) continue;
    const what = `the router of ${namespace}/${service}`;
    try {
      let next = state;
      for (const route of state.routes)
        if (!(await podExists(core, namespace, route.pod))) next = withoutRoute(next, route.session);
      // A router still being made by a live expose has no route yet in `starting` only briefly;
      // one whose maker is gone has no SSH pod behind any route.
      if (next.routes.length > 0) {
        if (next.routes.length < state.routes.length) {
          await core.replaceNamespacedConfigMap({
            namespace,
            name: configMap.metadata?.name ?? '',
            body: { metadata: configMap.metadata, data: routerConfigData(next) },
          });
          report.done.push(
            `took ${String(state.routes.length - next.routes.length)} abandoned route(s) off ${what}`,
          );
        }
        continue;
      }
      // Marked closing first, guarded by the version read: a developer who joined meanwhile
      // makes this write fail, and the router stays for them.
      try {
        await core.replaceNamespacedConfigMap({
          namespace,
          name: configMap.metadata?.name ?? '',
          body: { metadata: configMap.metadata, data: routerConfigData(next) },
        });
      } catch (error) {
        if (errorStatus(error) === 409) continue;
        throw error;
      }
      const given = await giveBack(core, { namespace, name: service }, state.session, state.originalSelector);
      await removeRouterObjects(core, namespace, routerObjects(service), state.pod);
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
