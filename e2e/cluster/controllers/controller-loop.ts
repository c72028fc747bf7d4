/** Runs a reconcile function once per burst of store changes to the kinds it watches. */
import type { ObjectStore, StoreEvent } from '../api/store';

export interface Controller {
  start(): void;
  stop(): void;
}

/**
 * Calls `reconcile` soon after any change to `kinds` (and once at start); changes made while it
 * runs schedule one more pass, so controllers settle without recursion.
 */
export function createControllerLoop(
  store: ObjectStore,
  kinds: readonly string[],
  reconcile: () => void,
  log: (message: string) => void,
): Controller {
  let scheduled = false;
  let stopped = true;
  const run = (): void => {
    scheduled = false;
    if (stopped) return;
    try {
      reconcile();
    } catch (error) {
      log(`controller error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  };
  const schedule = (): void => {
    if (scheduled || stopped) return;
    scheduled = true;
    setImmediate(run);
  };
  const onChange = (event: StoreEvent): void => {
    if (kinds.includes(event.resource.kind)) schedule();
  };
  return {
    start() {
      stopped = false;
      store.on('change', onChange);
      schedule();
    },
    stop() {
      stopped = true;
      store.off('change', onChange);
    },
  };
}
