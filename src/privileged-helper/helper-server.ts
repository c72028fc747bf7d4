/**
 * The helper's socket server: authenticates each connection with the launch token, validates
 * every request against the shared schema and the allowed range, applies it, and undoes all of
 * it when the last client goes away. Every refusal is logged with its reason; tokens never are.
 */
import { timingSafeEqual } from 'node:crypto';
import { chmodSync, chownSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import {
  helperLimits,
  helperProtocolVersion,
  helperRequestSchema,
  type HelperErrorCode,
  type HelperRequest,
  type HelperResponse,
} from '../shared/helper-protocol';
import { rangeContains, underlyingIpv4, type Ipv4Range } from '../shared/ipv4-range';
import { aliasesNeeded, LoopbackAliases } from './aliases';
import { removeBlocks, replaceBlock, type HostsEntry } from './hosts-block';
import { CoalescingWriter, rewriteFile } from './hosts-file';
import { RelaySet } from './relays';

export interface HelperLogger {
  info(message: string, context?: Record<string, unknown>): void;
  refuse(reason: string, context?: Record<string, unknown>): void;
}

export interface HelperServerOptions {
  socketPath: string;
  ownerUid: number;
  ownerGid: number;
  token: string;
  range: Ipv4Range;
  session: string;
  /** Always /etc/hosts in production; fixed by `main.ts`, never taken from a client. */
  hostsPath: string;
  /** How long to stay up with no client before exiting. */
  graceMs: number;
  logger: HelperLogger;
  onIdleExit: () => void;
  isProcessAlive: (pid: number) => boolean;
}

class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly code: HelperErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class HelperServer {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();
  private entries: HostsEntry[] = [];
  private readonly relays = new RelaySet();
  private readonly aliases = new LoopbackAliases();
  private idleTimer: NodeJS.Timeout | undefined;
  readonly writer: CoalescingWriter;

  constructor(private readonly options: HelperServerOptions) {
    this.writer = new CoalescingWriter(async () => {
      const result = await rewriteFile(options.hostsPath, (current) =>
        replaceBlock(current, options.session, process.pid, this.entries),
      );
      if (result.method)
        options.logger.info('hosts file written', { method: result.method, entries: this.entries.length });
      return result.changed;
    });
  }

  /** Removes blocks left by helpers that died, then listens. */
  async start(): Promise<void> {
    const { hostsPath, isProcessAlive, logger } = this.options;
    const cleaned = await rewriteFile(hostsPath, (current) =>
      removeBlocks(current, (block) => block.session === this.options.session || !isProcessAlive(block.pid)),
    );
    if (cleaned.changed) logger.info('removed hosts blocks left by sessions that died');
    const server = createServer((socket) => this.accept(socket));
    const previousMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.options.socketPath, () => resolve());
      });
    } finally {
      process.umask(previousMask);
    }
    chownSync(this.options.socketPath, this.options.ownerUid, this.options.ownerGid);
    chmodSync(this.options.socketPath, 0o600);
    this.server = server;
    this.armIdleTimer();
  }

  /** Undoes everything this session did: hosts block, relays, aliases. */
  async cleanup(): Promise<void> {
    this.entries = [];
    await Promise.all([this.writer.request(), this.relays.closeAll(), this.aliases.removeAll()]);
  }

  async stop(): Promise<void> {
    clearTimeout(this.idleTimer);
    for (const client of this.clients) client.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.cleanup();
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.clients.size === 0) this.options.onIdleExit();
    }, this.options.graceMs);
  }

  private accept(socket: Socket): void {
    const { logger } = this.options;
    let authenticated = false;
    let buffered = '';
    let queue = Promise.resolve();
    const reply = (response: HelperResponse): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
    };
    const refuse = (
      id: number | null,
      code: HelperErrorCode,
      message: string,
      context: Record<string, unknown> = {},
    ): void => {
      logger.refuse(message, { code, ...context });
      reply({ id, ok: false, code, message });
    };

    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > helperLimits.maxFrameBytes && !buffered.includes('\n')) {
        refuse(null, 'bad-frame', `request is larger than ${helperLimits.maxFrameBytes} bytes`);
        socket.destroy();
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        queue = queue.then(() =>
          this.handleLine(line, authenticated, reply, refuse).then((result) => {
            if (result === 'authenticated') {
              authenticated = true;
              this.clients.add(socket);
              clearTimeout(this.idleTimer);
            } else if (result === 'close') {
              socket.end();
            }
          }),
        );
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (!this.clients.delete(socket)) return;
      if (this.clients.size === 0) {
        logger.info('last client left; undoing this session');
        void this.cleanup().finally(() => this.armIdleTimer());
      }
    });
  }

  private async handleLine(
    line: string,
    authenticated: boolean,
    reply: (response: HelperResponse) => void,
    refuse: (
      id: number | null,
      code: HelperErrorCode,
      message: string,
      context?: Record<string, unknown>,
    ) => void,
  ): Promise<'authenticated' | 'close' | undefined> {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      refuse(null, 'bad-frame', 'request is not valid JSON');
      return authenticated ? undefined : 'close';
    }
    const id =
      typeof raw === 'object' && raw !== null && 'id' in raw && typeof raw.id === 'number' ? raw.id : null;
    const parsed = helperRequestSchema.safeParse(raw);
    if (!parsed.success) {
      const op =
        typeof raw === 'object' && raw !== null && 'op' in raw ? String(raw.op).slice(0, 40) : undefined;
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`);
      refuse(id, 'invalid', `invalid request: ${issues.join('; ')}`, { op });
      return authenticated ? undefined : 'close';
    }
    const request = parsed.data;
    if (!authenticated) {
      if (request.op !== 'hello') {
        refuse(id, 'unauthenticated', 'the first request must be hello with the launch token', {
          op: request.op,
        });
        return 'close';
      }
      if (!this.tokenMatches(request.token)) {
        refuse(id, 'unauthenticated', 'wrong token');
        return 'close';
      }
      if (request.version !== helperProtocolVersion) {
        refuse(
          id,
          'version',
          `this helper speaks protocol ${helperProtocolVersion}, the client ${request.version}; restart Localizer`,
        );
        return 'close';
      }
      reply({
        id,
        ok: true,
        result: {
          version: helperProtocolVersion,
          platform: process.platform,
          pid: process.pid,
          range: this.options.range.cidr,
          aliasesNeeded,
        },
      });
      return 'authenticated';
    }
    try {
      reply(await this.execute(request));
    } catch (error) {
      if (error instanceof RequestError) refuse(id, error.code, error.message, { op: request.op });
      else
        refuse(
          id,
          'failed',
          `${request.op} failed: ${error instanceof Error ? error.message : String(error)}`,
          { op: request.op },
        );
    }
    return undefined;
  }

  private tokenMatches(offered: string): boolean {
    const expected = Buffer.from(this.options.token);
    const given = Buffer.from(offered);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  private checkRange(ips: Iterable<string>): void {
    for (const ip of ips) {
      if (!rangeContains(this.options.range, underlyingIpv4(ip))) {
        throw new RequestError(
          'out-of-range',
          `${ip} is outside the allowed range ${this.options.range.cidr}`,
        );
      }
    }
  }

  private async execute(request: HelperRequest): Promise<HelperResponse> {
    switch (request.op) {
      case 'hello':
        throw new RequestError('invalid', 'already authenticated');
      case 'ping':
        return { id: request.id, ok: true };
      case 'hosts.set':
        this.checkRange(request.entries.map((entry) => entry.ip));
        this.entries = request.entries;
        await this.writer.request();
        return { id: request.id, ok: true, result: { written: true } };
      case 'alias.add':
        this.checkRange([request.ip]);
        return { id: request.id, ok: true, result: { noop: !(await this.aliases.add(request.ip)) } };
      case 'alias.remove':
        this.checkRange([request.ip]);
        return { id: request.id, ok: true, result: { noop: !(await this.aliases.remove(request.ip)) } };
      case 'relays.set':
        this.checkRange(request.relays.map((relay) => relay.ip));
        await this.relays.apply(request.relays);
        return { id: request.id, ok: true };
      case 'cleanup':
        await this.cleanup();
        return { id: request.id, ok: true };
    }
  }
}
