import type { IncomingMessage } from 'node:http';

/**
 * Reading what the API server said when it refused: the `Status` message in a response body, or
 * the HTTP code of a client-node error. One place, so every error the user sees quotes the server.
 */

/** The `message` of a `Status` body, or `fallback` when the body is not one. */
export function statusMessage(body: string, fallback: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string' && status.message) return status.message;
  } catch {
    // Not a Status object (a proxy's HTML page, an empty body): use the fallback.
  }
  return fallback;
}

/** HTTP status of a client-node error, when it has one. */
export function errorStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { code?: unknown; statusCode?: unknown };
  if (typeof record.code === 'number') return record.code;
  if (typeof record.statusCode === 'number') return record.statusCode;
  return undefined;
}

/** The server's own words for a client-node error, else the error's message. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') return statusMessage(body, error.message);
  // fetch says only "fetch failed"; why (refused, no such host, no answer, a bad certificate)
  // is its cause.
  return error.cause instanceof Error && error.cause.message && !error.message.includes(error.cause.message)
    ? `${error.message}: ${error.cause.message}`
    : error.message;
}

/** Reads a refused request's response and resolves with the server's message (or `fallback`). */
export function refusalMessage(
  response: IncomingMessage,
  fallback: (code: number | undefined) => string,
): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    response.on('data', (chunk: Buffer) => (body += chunk.toString()));
    response.on('end', () => resolve(statusMessage(body, fallback(response.statusCode))));
    response.on('error', () => resolve(fallback(response.statusCode)));
  });
}
