/**
 * Connecting and disconnecting the instance's contexts: one engine per context, every one giving
 * addresses from the same range and one address book (so no two services anywhere share an
 * address), and names through the one helper. The instance runs these one at a time.
 */
import { join } from 'node:path';
import { AddressBook } from '../connect/address-book';
import { slowStartNote } from '../connect/cluster-access';
import { ConnectEngine } from '../connect/connect-engine';
import type { ExposeManager } from '../expose/expose-manager';
import { connectOptionsProblem, withConnectDefaults, type ConnectOptions } from './connect-options';
import type { Connections } from './connections';
import type { ContextClients } from './context-clients';
import { InstanceRefusedError } from './instance-refusal';
import type { ConnectRequest } from './instance-requests';
import type { NamesKeeper } from './names-keeper';
import type { Progress } from './instance-output';

/** How long a context may take to start before the asker is told what it waits for. */
const slowStartMs = 5_000;

export interface ContextConnectorOptions {
  stateDirectory: string;
  /** Connect settings for requests that leave them out. */
  defaults: () => ConnectOptions;
  connections: Connections;
  clients: ContextClients;
  names: NamesKeeper;
  exposes: ExposeManager;
  /** Closes the dialers nothing uses any more. */
  releaseDialers: () => void;
  onChange: () => void;
  log: (message: string) => void;
}

export class ContextConnector {
  private addresses: AddressBook | undefined;
  /** The range every connected context gives addresses from; unset while none is connected. */
  private range: string | undefined;

  constructor(private readonly options: ContextConnectorOptions) {}

  get ipRange(): string | undefined {
    return this.range;
  }

  /** Connects each asked context not yet connected; resolves once their engines watch the cluster. */
  async connect(request: ConnectRequest, progress: Progress): Promise<string[]> {
    const { connections, names } = this.options;
    // A connected instance's range is the default for every later connect.
    const defaults = this.options.defaults();
    const options = withConnectDefaults(request, { ...defaults, ipRange: this.range ?? defaults.ipRange });
    const problem = connectOptionsProblem(options);
    if (problem) throw new InstanceRefusedError(problem);
    if (this.range && options.ipRange !== this.range)
      throw new InstanceRefusedError(
        `The running Localizer gives addresses from ${this.range}, and this connect asks for ${options.ipRange} (--ip-range, or the address range in Settings). Connect with ${this.range}, or disconnect every context first (\`localizer disconnect\`, or Disconnect in the tray).`,
      );
    const asked: (string | undefined)[] = request.contexts.length > 0 ? request.contexts : [undefined];
    const contexts = asked.map((name) => connections.load(request.source, name));
    const fresh = contexts.filter((c) => !connections.has(c.name));
    for (const context of contexts)
      if (connections.has(context.name)) progress(`Context ${context.name} is already connected.`);
    if (fresh.length === 0) return contexts.map((c) => c.name);

    if (!this.range) {
      this.range = options.ipRange;
      this.addresses = new AddressBook(options.ipRange, join(this.options.stateDirectory, 'addresses.json'));
    }
    if (request.names) await names.start(options.ipRange, progress);
    const started: string[] = [];
    try {
      for (const context of fresh) {
        progress(`Connecting to ${context.server} (context ${context.name})…`);
        const log = (message: string): void =>
          this.options.log(connections.size > 1 ? `[${context.name}] ${message}` : message);
        const engine = new ConnectEngine({
          kubeContext: context,
          stateDirectory: this.options.stateDirectory,
          ipRange: options.ipRange,
          clusterDomain: options.clusterDomain,
          namespaces: options.namespaces,
          excludeNamespaces: options.excludeNamespaces,
          sync: names.sync,
          relays: { enabled: options.relays, image: options.relayImage, owner: this.options.exposes.owner },
          ...(this.addresses ? { addresses: this.addresses } : {}),
          clients: this.options.clients.for(context),
          log,
        });
        engine.on('status', this.options.onChange);
        engine.on('health', (health) => {
          if (health.reason) this.options.log(`${context.name}: ${health.state}: ${health.reason}`);
          this.options.onChange();
        });
        connections.set(context.name, { context, engine, clusterDomain: options.clusterDomain });
        started.push(context.name);
        const slow = setTimeout(() => progress(slowStartNote(context, engine.startStep)), slowStartMs);
        await engine.start().finally(() => clearTimeout(slow));
      }
    } catch (error) {
      await this.disconnect(started, false);
      throw error;
    }
    this.options.onChange();
    return contexts.map((c) => c.name);
  }

  /**
   * Stops these contexts' connections and their exposes; with `everything`, every expose, those
   * of contexts that are not connected included (a disconnect of all, a quit). Returns what
   * could not be undone.
   */
  async disconnect(contexts: readonly string[], everything: boolean): Promise<string[]> {
    const { connections } = this.options;
    const { failures, notices } = await this.options.exposes.stopAll(
      everything ? undefined : (id) => contexts.includes(id.context),
    );
    for (const notice of notices) this.options.log(`Stopped the expose ${notice}`);
    await Promise.all(
      contexts.map(async (name) => {
        await connections.get(name)?.engine.stop();
        connections.delete(name);
      }),
    );
    if (connections.size === 0) {
      await this.options.names.stop();
      this.addresses = undefined;
      this.range = undefined;
    }
    this.options.releaseDialers();
    this.options.onChange();
    return failures;
  }
}
