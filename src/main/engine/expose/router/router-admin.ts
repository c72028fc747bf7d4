/**
 * HAProxy's runtime API, reached over a pod port-forward to the router's admin port: one
 * connection per batch of commands, as the API's non-interactive mode serves them (it answers
 * every `;`-separated command, then closes).
 */
import type { Duplex } from 'node:stream';

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

/** Connections the router holds now (its `CurrConns`, which does not count the one asking). */
export async function routerConnections(dial: AdminDialer): Promise<number> {
  const info = await runRouterCommands(dial, ['show info']);
  const match = /^CurrConns:\s*(\d+)/m.exec(info);
  if (!match?.[1])
    throw new Error(`the router's runtime API gave no connection count (${info.slice(0, 80)})`);
  return Number(match[1]);
}
