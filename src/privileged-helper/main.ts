/**
 * The privileged helper's entry point, run as root by sudo (CLI) or sudo-prompt (app). It takes
 * its settings from the command line root was asked to run, reads and deletes the token file, and
 * serves one session until its client is gone.
 *
 *   helper --session ID --socket-dir DIR --owner-uid N --owner-gid N --token-file F --range CIDR [--grace-ms N]
 */
import { lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loopbackRange, parseIpv4Range, rangeWithin } from '../shared/ipv4-range';
import { createHelperLog, type HelperLogLevel } from './helper-log';
import { HelperServer, type HelperLogger } from './helper-server';

/** Fixed here, never taken from a client or the command line. */
const hostsPath = '/etc/hosts';

/**
 * Set once the root-only socket directory is checked; before that a broken pipe drops the log
 * (never a file in a directory others can write, where a planted link would aim root's writes).
 */
let logFile: string | undefined = undefined;
const helperLog = createHelperLog({
  stream: process.stderr,
  fallbackPath: () => logFile,
  extraStreams: [process.stdout],
});

function log(level: HelperLogLevel, message: string, context: Record<string, unknown> = {}): void {
  helperLog.write(level, message, context);
}

function fail(message: string): never {
  log('fatal', message);
  process.exit(2);
}

function integer(value: string | undefined, option: string): number {
  const number = Number(value);
  if (value === undefined || !Number.isInteger(number) || number < 0)
    fail(`Expected \`${option}\` to be a whole number, got ${JSON.stringify(value)}`);
  return number;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The socket directory must be root's and not writable by others, or a user could swap the socket. */
function prepareSocketDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o711 });
  const stat = lstatSync(directory);
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    fail(`${directory} must be a directory owned by root and writable by root only`);
  }
}

const { values } = parseArgs({
  options: {
    session: { type: 'string' },
    'socket-dir': { type: 'string' },
    'owner-uid': { type: 'string' },
    'owner-gid': { type: 'string' },
    'token-file': { type: 'string' },
    range: { type: 'string' },
    'grace-ms': { type: 'string', default: '3000' },
  },
});

if (process.getuid?.() !== 0) fail('the privileged helper must run as root');
const session = values.session ?? '';
if (!/^[a-z0-9-]{1,64}$/.test(session))
  fail('Expected `--session` to be 1–64 lower-case letters, digits or hyphens');
const socketDirectory = values['socket-dir'] ?? fail('`--socket-dir` is required');
const tokenFile = values['token-file'] ?? fail('`--token-file` is required');
let range;
try {
  range = parseIpv4Range(values.range ?? '');
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
if (!rangeWithin(range, loopbackRange)) fail(`Expected \`--range\` inside 127.0.0.0/8, got ${range.cidr}`);
const token = readFileSync(tokenFile, 'utf8').trim();
rmSync(tokenFile, { force: true });
if (token.length < 16) fail('the token file must hold a token of at least 16 characters');

prepareSocketDirectory(socketDirectory);
const socketPath = join(socketDirectory, `${session}.sock`);
logFile = join(socketDirectory, `${session}.log`);
rmSync(socketPath, { force: true });

const logger: HelperLogger = {
  info: (message, context) => log('info', message, context),
  refuse: (reason, context) => log('refuse', reason, context),
};
const server = new HelperServer({
  socketPath,
  ownerUid: integer(values['owner-uid'], '--owner-uid'),
  ownerGid: integer(values['owner-gid'], '--owner-gid'),
  token,
  range,
  session,
  hostsPath,
  graceMs: integer(values['grace-ms'], '--grace-ms'),
  logger,
  isProcessAlive,
  onIdleExit: () => {
    logger.info('no client; exiting');
    void server.stop().finally(() => {
      rmSync(socketPath, { force: true });
      process.exit(0);
    });
  },
});

process.on('SIGTERM', () => {
  void server.stop().finally(() => {
    rmSync(socketPath, { force: true });
    process.exit(0);
  });
});
// A terminal's Ctrl-C and hang-up reach the whole process group, this helper with its client.
// The client then removes its names and lets go of this helper, which exits once it has no
// client; leaving at once instead would look to the client like a helper that died. Ctrl-\
// (SIGQUIT) kills the client on the spot; by default it would kill this helper too, leaving the
// names in /etc/hosts with nobody to remove them, so the helper outlives it: it removes them as
// soon as the client is gone, and exits after its grace period, as after any client's crash.
for (const signal of ['SIGINT', 'SIGHUP', 'SIGQUIT'] as const)
  process.on(signal, () => logger.info(`${signal} ignored: this helper ends when its client lets go`));

await server.start();
logger.info('listening', { socketPath, range: range.cidr, session });
process.stdout.write(`localizer-helper ready socket=${socketPath}\n`);
