/**
 * The test cluster's parts as they start, so a part that fails to start stops those before it,
 * last started first, as envtest's control plane does: a port already taken must not leave a
 * kubelet and its pod processes running with nobody to stop them.
 */
export class StartedParts {
  private readonly stops: { name: string; stop: () => unknown }[] = [];

  /**
   * Starts a part; once it has started, `stop` is what undoes it. A part whose start fails undoes
   * what it did itself (as the outside hosts stop the processes they spawned).
   */
  async start(name: string, start: () => unknown, stop: () => unknown): Promise<void> {
    await start();
    this.stops.unshift({ name, stop });
  }

  /** What has started, last first. */
  get names(): string[] {
    return this.stops.map((s) => s.name);
  }

  /**
   * Stops every started part, last first; one that fails to stop does not keep the others
   * running. Rejects afterwards naming each that failed.
   */
  async stopAll(): Promise<void> {
    const failures: string[] = [];
    for (const { name, stop } of this.stops.splice(0)) {
      try {
        await stop();
      } catch (error) {
        failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`could not stop ${failures.join('; ')}`);
  }
}
