/**
 * Where forward plans meet the egress relay: the targets each namespace's relay must allow, and
 * a relayed route skipped, saying why, where the relay cannot serve.
 */
import { targetKey } from '../relay/relay-protocol';
import type { ForwardPlan } from './forward-plan';

/** The relay targets (`protocol|host:port`) each namespace's plans need. */
export function relayTargetsByNamespace(plans: readonly ForwardPlan[]): Map<string, Set<string>> {
  const byNamespace = new Map<string, Set<string>>();
  for (const plan of plans) {
    const targets = byNamespace.get(plan.namespace) ?? new Set<string>();
    for (const route of plan.relayRoutes)
      for (const destination of route.destinations) targets.add(targetKey(route.protocol, destination));
    byNamespace.set(plan.namespace, targets);
  }
  return byNamespace;
}

/**
 * The plan with its relay routes skipped when its namespace's relay has `problem` (forbidden,
 * refused, an image that cannot be pulled): the whole forward when it has no pods, else a note.
 */
export function withRelayProblem(plan: ForwardPlan, problem: string | undefined): ForwardPlan {
  if (!problem || plan.relayRoutes.length === 0 || plan.skipReason) return plan;
  if (plan.endpoints.length === 0) return { ...plan, relayRoutes: [], skipReason: problem };
  const skipped = plan.relayRoutes
    .map((r) => `${r.protocol.toUpperCase()} port ${String(r.port)}`)
    .join(', ');
  const note = `${skipped} skipped: ${problem}`;
  return { ...plan, relayRoutes: [], note: plan.note ? `${plan.note}; ${note}` : note };
}
