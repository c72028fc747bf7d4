/**
 * Keeps a privileged helper for as long as names are wanted. A helper that dies (killed,
 * crashed) would leave its names in /etc/hosts for good, so another is started, which removes
 * the dead one's block, and the sync hands it every name and relay. At most 3 starts a minute:
 * past that, names stay off and the front end says why.
 */
import type { HelperClient } from './helper-client';

/** What hands a new helper every name and relay (connect's `HelperSync`). */
export interface HelperHandover {
  replaceHelper(next: HelperClient): Promise<void>;
}

export interface HelperSupervisorOptions {
  /** The helper the front end started. */
  first: HelperClient;
  sync: HelperHandover;
  /** Starts another helper as the front end starts its first (sudo, sudo-prompt, root). */
  start: () => Promise<HelperClient | undefined>;
  /** Whether a lost helper should be replaced now: not while the front end shuts down. */
  shouldRelaunch: () => boolean;
  /** What the user is told. */
  say: (message: string) => void;
  now?: () => number;
  /** How long after a helper is lost the restart is decided (250 ms). */
  relaunchDelayMs?: number;
}

export interface HelperSupervisor {
  /** Closes every helper connection it opened; no helper is started after this. */
  close(): void;
}

const maxStartsPerMinute = 3;

export function superviseHelper(options: HelperSupervisorOptions): HelperSupervisor {
  const now = options.now ?? Date.now;
  const clients: HelperClient[] = [options.first];
  const starts: number[] = [];
  let closed = false;

  const watch = (client: HelperClient): void => {
    // A signal to the whole process group (Ctrl-C, a hang-up, `kill -TERM -PGID`) may reach the
    // helper a moment before our own handler runs: decide only once that moment has passed, so
    // a front end that is stopping never announces a restart it will not make.
    client.onDisconnect(() => setTimeout(relaunch, options.relaunchDelayMs ?? 250));
    const relaunch = (): void => {
      if (closed || !options.shouldRelaunch()) return;
      const at = now();
      while (starts.length > 0 && (starts[0] ?? 0) < at - 60_000) starts.shift();
      if (starts.length >= maxStartsPerMinute) {
        options.say(
          `The privileged helper stopped again (${String(maxStartsPerMinute)} times in a minute), so names are off. Its names stay in /etc/hosts until the next connect removes them; services stay reachable by IP (\`localizer list\`).`,
        );
        return;
      }
      starts.push(at);
      options.say('The privileged helper stopped; starting it again…');
      void options.start().then(async (next) => {
        if (!next) return;
        if (closed || !options.shouldRelaunch()) {
          next.close();
          return;
        }
        clients.push(next);
        watch(next);
        await options.sync.replaceHelper(next);
        options.say('The privileged helper is back: names in /etc/hosts are up to date.');
      });
    };
  };
  watch(options.first);

  return {
    close() {
      closed = true;
      for (const client of clients) client.close();
    },
  };
}
