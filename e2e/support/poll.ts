/**
 * Waiting for a condition where `expect.poll` cannot run (hooks, the cluster itself): checks
 * every 50 ms and fails with a message naming what never happened.
 */
export async function pollUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
