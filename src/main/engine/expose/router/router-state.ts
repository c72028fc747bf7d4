/**
 * What a personal-intercept router holds, kept in its ConfigMap so every developer's Localizer
 * (on any machine) sees the same routes: the header, the origin, and one route per developer.
 * Changed only by resourceVersion-guarded writes, so two joins never take the same slot.
 * Pure: reading, checking and changing the state; `personal-router.ts` reads and writes it.
 */
import { ExposeRefusedError } from '../expose-refused-error';
import type { RouteSlot, RouterPort } from './router-config';

export interface HeldRoute extends RouteSlot {
  /** `user@host` of the developer. */
  owner: string;
  /** Their expose's session. */
  session: string;
  /** Their SSH pod: the route is abandoned once it is gone. */
  pod: string;
}

export interface RouterState {
  /** The header routed on, lower case. */
  header: string;
  /** The router pod's intercept label value, which the Service selects while routed. */
  session: string;
  /**
   * The router pod's name: made fresh with each router, as the last one's pod may still be
   * terminating under its name when the next developer makes a new router.
   */
  pod: string;
  /** `starting` until the Service routes to the router, `closing` once its last route left. */
  phase: 'starting' | 'ready' | 'closing';
  /** Who made the router, for a message while it starts. */
  createdBy: string;
  /** The Service's selector before the router took it, to give back. */
  originalSelector: Record<string, string>;
  originAddress: string;
  ports: RouterPort[];
  routes: HeldRoute[];
}

/** The router ConfigMap's key that holds the state. */
export const stateKey = 'router.json';

/** How many developers may hold a route on one Service at once. */
export const routerSlots = 8;

export function parseRouterState(text: string | undefined): RouterState | undefined {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<RouterState>;
    if (typeof parsed.header !== 'string' || !Array.isArray(parsed.routes) || !Array.isArray(parsed.ports))
      return undefined;
    return parsed as RouterState;
  } catch {
    return undefined;
  }
}

/**
 * The state with `route` added in a free slot. Refuses another header than the router's, a value
 * someone holds (naming them), and a full router.
 */
export function withRoute(
  state: RouterState,
  route: Omit<HeldRoute, 'slot'>,
  header: string,
  service: string,
): RouterState {
  if (state.header !== header.toLowerCase())
    throw new ExposeRefusedError(
      `${service} is already routed by header ${state.header} (personal intercepts of ${describeHolders(state)}). Use --header ${state.header}=VALUE to share it.`,
    );
  const same = state.routes.find((r) => r.value === route.value);
  if (same && same.session !== route.session)
    throw new ExposeRefusedError(
      `${state.header}=${route.value} on ${service} is already held by ${same.owner} (pod ${same.pod}). Pick another value, or ask them to stop (\`localizer expose ${service} --stop\`); if it is yours from a run that was killed, \`localizer cleanup\` frees it.`,
    );
  const others = state.routes.filter((r) => r.session !== route.session);
  const used = new Set(others.map((r) => r.slot));
  // A route joined again (its SSH pod made anew) keeps its slot.
  const slot =
    state.routes.find((r) => r.session === route.session)?.slot ??
    [...Array(routerSlots).keys()].find((s) => !used.has(s));
  if (slot === undefined)
    throw new ExposeRefusedError(
      `${service} already has ${String(routerSlots)} personal intercepts (${describeHolders(state)}), as many as one router holds. Wait for one to stop.`,
    );
  return { ...state, routes: [...others, { ...route, slot }] };
}

/** The state without the route of `session`; `closing` when it was the last. */
export function withoutRoute(state: RouterState, session: string): RouterState {
  const routes = state.routes.filter((r) => r.session !== session);
  return { ...state, routes, phase: routes.length === 0 ? 'closing' : state.phase };
}

/** `alice@laptop (x-dev=alice), bob@mac (x-dev=bob)`. */
export function describeHolders(state: RouterState): string {
  return state.routes.map((r) => `${r.owner} (${state.header}=${r.value})`).join(', ') || 'nobody any more';
}
