/**
 * One writer to the privileged helper for every connected context: it merges their hosts entries
 * and relays, and sends one request per burst of changes. When two contexts want the same name,
 * the context connected first keeps it; the other is told which names it lost.
 */
import type { HostsEntry } from '../../../shared/helper-protocol';
import type { HelperClient } from '../helper/helper-client';
import type { Relay } from './privileged-ports';

export interface MergedHosts {
  entries: HostsEntry[];
  /** Names each source asked for but did not get, with the source that holds them. */
  lost: Map<string, Map<string, string>>;
}

/**
 * Merges sources in order; a name already given to an earlier source is not given again. A
 * source may give one name several lines (its IPv4 address and the IPv4-mapped IPv6 form of it).
 */
export function mergeHosts(
  sources: readonly { source: string; entries: readonly HostsEntry[] }[],
): MergedHosts {
  const owner = new Map<string, string>();
  const lost = new Map<string, Map<string, string>>();
  const entries: HostsEntry[] = [];
  for (const { source, entries: wanted } of sources) {
    for (const entry of wanted) {
      const names = entry.names.filter((name) => {
        const holder = owner.get(name);
        if (holder === undefined) {
          owner.set(name, source);
          return true;
        }
        if (holder === source) return true;
        const mine = lost.get(source) ?? new Map<string, string>();
        mine.set(name, holder);
        lost.set(source, mine);
        return false;
      });
      if (names.length > 0) entries.push({ ip: entry.ip, names });
    }
  }
  return { entries, lost };
}

export class HelperSync {
  private readonly hosts = new Map<string, readonly HostsEntry[]>();
  private readonly relays = new Map<string, readonly Relay[]>();
  private merged: MergedHosts = { entries: [], lost: new Map() };
  private sentHosts = '[]';
  private sentRelays = '[]';
  private scheduled: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Hosts-file writes requested from the helper. */
  writes = 0;

  constructor(
    private helper: HelperClient | undefined,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  /**
   * Hands everything to a new helper (the old one died): it gets every name and relay at once,
   * and its start has already removed the dead helper's block.
   */
  replaceHelper(helper: HelperClient): Promise<void> {
    this.helper = helper;
    this.sentHosts = '';
    this.sentRelays = '';
    this.queue = Promise.resolve();
    clearTimeout(this.scheduled);
    this.send();
    return this.queue;
  }

  get enabled(): boolean {
    return this.helper !== undefined;
  }

  /** Registers sources in priority order: the first one registered wins a contested name. */
  register(source: string): void {
    if (!this.hosts.has(source)) this.hosts.set(source, []);
  }

  update(
    source: string,
    entries: readonly HostsEntry[] | undefined,
    relays: readonly Relay[] | undefined,
  ): void {
    if (entries) this.hosts.set(source, entries);
    if (relays) this.relays.set(source, relays);
    this.merged = mergeHosts([...this.hosts].map(([name, wanted]) => ({ source: name, entries: wanted })));
    if (!this.helper || this.scheduled) return;
    // Engines often change together (a reconnect); one request carries all of it.
    this.scheduled = setTimeout(() => this.send(), 10);
  }

  /** Names `source` wanted but another context holds: name → holder. */
  lostNames(source: string): ReadonlyMap<string, string> {
    return this.merged.lost.get(source) ?? new Map();
  }

  private send(): void {
    this.scheduled = undefined;
    const helper = this.helper;
    if (!helper) return;
    const entries = this.merged.entries;
    const relays = [...this.relays.values()].flat();
    const hostsText = JSON.stringify(entries);
    const relaysText = JSON.stringify(relays);
    if (hostsText !== this.sentHosts) {
      this.sentHosts = hostsText;
      this.queue = this.queue
        .then(() => helper.setHosts(entries))
        .then(() => {
          this.writes++;
        })
        .catch((error: unknown) =>
          this.log(`could not update /etc/hosts: ${error instanceof Error ? error.message : String(error)}`),
        );
    }
    if (relaysText !== this.sentRelays) {
      this.sentRelays = relaysText;
      this.queue = this.queue
        .then(() => helper.setRelays(relays))
        .catch((error: unknown) =>
          this.log(
            `could not relay privileged ports: ${error instanceof Error ? error.message : String(error)}`,
          ),
        );
    }
  }

  /** Resolves once everything requested so far has reached the helper. */
  async flush(): Promise<void> {
    if (this.scheduled) {
      clearTimeout(this.scheduled);
      this.send();
    }
    await this.queue;
  }

  /** Removes every name and relay of every source. */
  async clear(): Promise<void> {
    for (const source of this.hosts.keys()) this.update(source, [], []);
    await this.flush();
  }
}
