/**
 * HAProxy's runtime API, reached over a pod port-forward to the router's admin port: one
 * connection per batch of commands, as the API's non-interactive mode serves them (it answers
 * every `;`-separated command, then closes). Answers are checked: a command HAProxy refused is
 * an error naming the command and HAProxy's words.
 */
import type { Duplex } from 'node:stream';
import {
  mapCommands,
  prepareMapCommand,
  serverCommands,
  type RouteSlot,
  type RouterPort,
} from './router-config';

/** Opens a connection to the router pod's admin port. */
export type AdminDialer = () => Promise<Duplex>;

const answerTimeoutMs = 10_000;

/** Runs `commands` in one batch and resolves with HAProxy's answer text. */
export async function runRouterCommands(dial: AdminDialer, commands: readonly string[]): Promise<string> {
  if (commands.length === 0) return '';
  const stream = await dial();
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`the router's runtime API did not answer within ${String(answerTimeoutMs / 1000)} s`));
    }, answerTimeoutMs);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      if (error) reject(new Error(`the router's runtime API failed: ${error.message}`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', finish);
    stream.once('end', () => {
      stream.destroy();
      finish();
    });
    stream.write(`${commands.join('; ')}\n`);
  });
}

/** How HAProxy 2.6 words a refused command (an unknown server or map, a bad address). */
const refusedAnswer =
  /^(No such .*|Unknown .*|Require .*|.*[Ii]nvalid .*|.*not found.*|.*[Ff]ailed.*|.*out of range.*|Permission denied.*)$/m;

/** Runs `commands`, rejecting with HAProxy's words when it refused one. */
async function runChecked(dial: AdminDialer, commands: readonly string[]): Promise<string> {
  const answer = await runRouterCommands(dial, commands);
  const refused = refusedAnswer.exec(answer);
  if (refused) throw new Error(`the router refused a change (${refused[0].trim()})`);
  return answer;
}

/**
 * Makes the running router hold exactly `routes`: its slots' servers first, then the routes map
 * replaced as one new version. Resolves with false when a later version was committed meanwhile
 * (someone applied newer routes); the caller reads the routes again.
 */
export async function applyRoutes(
  dial: AdminDialer,
  routes: readonly RouteSlot[],
  ports: readonly RouterPort[],
  slots: number,
): Promise<boolean> {
  await runChecked(dial, serverCommands(routes, ports, slots));
  const prepared = await runRouterCommands(dial, [prepareMapCommand]);
  const version = /New version created: (\d+)/.exec(prepared)?.[1];
  if (!version) throw new Error(`the router did not prepare a new routes map (${prepared.trim()})`);
  const committed = await runRouterCommands(dial, mapCommands(routes, Number(version)));
  if (/out of range/.test(committed)) return false;
  const refused = refusedAnswer.exec(committed);
  if (refused) throw new Error(`the router refused the routes map (${refused[0].trim()})`);
  return true;
}

/** Connections the router holds now (its `CurrConns`, which does not count the one asking). */
export async function routerConnections(dial: AdminDialer): Promise<number> {
  const info = await runRouterCommands(dial, ['show info']);
  const match = /^CurrConns:\s*(\d+)/m.exec(info);
  if (!match?.[1])
    throw new Error(`the router's runtime API gave no connection count (${info.slice(0, 80)})`);
  return Number(match[1]);
}
