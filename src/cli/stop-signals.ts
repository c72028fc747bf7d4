/** How a long-running `localizer` command learns that the user wants it to stop. */
const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Resolves on the first SIGINT, SIGTERM or SIGHUP (a closed terminal), or when `until` does.
 * Signals after the first are ignored: the undoing they would cut short (a workload left scaled
 * down) is what they asked for, and a Ctrl-C often arrives twice (tsx passes it on).
 */
export function untilStopped(until?: Promise<unknown>, onRepeat?: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let stoppedAt: number | undefined;
    const onSignal = (): void => {
      if (stoppedAt !== undefined) {
        // Not the echo of the first (tsx passes a Ctrl-C on at once): someone is waiting.
        if (Date.now() - stoppedAt > 1000) onRepeat?.();
        return;
      }
      stoppedAt = Date.now();
      resolve();
    };
    for (const signal of stopSignals) process.on(signal, onSignal);
    void until?.then(onSignal, onSignal);
  });
}
