/**
 * The names of every connected context: one privileged helper (started on the first connect that
 * wants names, replaced if it dies), one sync that batches hosts entries and relays to it, and
 * the state `localizer status` shows for them.
 */
import { HelperSync } from '../connect/helper-sync';
import type { HelperClient } from '../helper/helper-client';
import { superviseHelper, type HelperSupervisor } from '../helper/helper-supervisor';
import type { InstanceLog } from './instance-output';

export type StartHelper = (
  ipRange: string,
  say: (message: string) => void,
) => Promise<HelperClient | undefined>;

export interface NamesKeeperOptions {
  /** Undefined: this front end never runs the helper (the harness, names off). */
  startHelper: StartHelper | undefined;
  log: InstanceLog;
  /** Whether a helper that died should be replaced now (not while stopping, not once idle). */
  wanted: () => boolean;
}

export class NamesKeeper {
  private running: { sync: HelperSync; supervisor: HelperSupervisor } | undefined;
  private problem = '';
  private quiet = false;

  constructor(private readonly options: NamesKeeperOptions) {}

  /** Where names go, or undefined while names are off. */
  get sync(): HelperSync | undefined {
    return this.running?.sync;
  }

  get enabled(): boolean {
    return this.running !== undefined;
  }

  /** Starts the helper unless it runs; names stay off (with the reason) when it cannot start. */
  async start(ipRange: string, progress: (message: string) => void): Promise<void> {
    if (this.running) return;
    const start = this.options.startHelper;
    if (!start) {
      this.problem = 'this Localizer runs without the privileged helper';
      return;
    }
    const helper = await start(ipRange, (message) => {
      progress(message);
      this.options.log(message, true);
    });
    if (!helper) {
      this.problem = 'the privileged helper could not start (see the log)';
      return;
    }
    this.problem = '';
    const sync = new HelperSync(helper, (message) => {
      if (!this.quiet) this.options.log(message);
    });
    // A helper that dies is replaced, so its names never outlive the connection.
    const supervisor = superviseHelper({
      first: helper,
      sync,
      start: () => start(ipRange, this.options.log),
      shouldRelaunch: () => !this.quiet && this.options.wanted(),
      say: this.options.log,
    });
    this.running = { sync, supervisor };
  }

  /** Resolves once the helper has every pending write. */
  async flush(): Promise<void> {
    await this.running?.sync.flush().catch(() => undefined);
  }

  /** Removes every name and closes the helper connection (the helper then exits). */
  async stop(): Promise<void> {
    await this.running?.sync.clear();
    this.running?.supervisor.close();
    this.running = undefined;
  }

  /** From now on a failed write is expected (the terminal's Ctrl-C reached the helper too). */
  quieten(): void {
    this.quiet = true;
  }

  status(connected: boolean): { state: 'off' | 'running' | 'unavailable'; reason: string } {
    if (this.running) return { state: 'running', reason: '' };
    if (this.problem) return { state: 'unavailable', reason: this.problem };
    return { state: 'off', reason: connected ? 'names are off for this connection' : '' };
  }
}
