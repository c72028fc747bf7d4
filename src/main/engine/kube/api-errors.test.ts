/** What a failed API call says to a user: the server's own message, or why the call never got one. */
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../../e2e/support/sockets';
import { describeError } from './api-errors';

describe('describeError', () => {
  it("gives the API server's message from a refused call's Status body", () => {
    const refused = Object.assign(new Error('HTTP-Code: 403'), {
      body: JSON.stringify({ kind: 'Status', message: 'services is forbidden: User "dev" cannot list' }),
    });
    expect(describeError(refused)).toBe('services is forbidden: User "dev" cannot list');
  });

  it('says why a call got no answer, which fetch keeps in its cause', async () => {
    // A port nothing listens on: fetch fails, and its cause says it was refused.
    const port = await freePort();
    const failed = await fetch(`http://127.0.0.1:${String(port)}/`).catch((error: unknown) => error);
    expect(describeError(failed)).toBe(`fetch failed: connect ECONNREFUSED 127.0.0.1:${String(port)}`);
  });

  it('says a plain error once, and anything else as text', () => {
    const wrapped = new Error('connect ECONNREFUSED 127.0.0.1:6443', {
      cause: new Error('connect ECONNREFUSED 127.0.0.1:6443'),
    });
    expect(describeError(wrapped)).toBe('connect ECONNREFUSED 127.0.0.1:6443');
    expect(describeError('timed out')).toBe('timed out');
  });
});
