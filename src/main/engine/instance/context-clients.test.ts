/**
 * Whose credentials a context's clients carry: an expose or `env` run with another kubeconfig
 * on a context that is already connected must act as that kubeconfig's user, not as the user the
 * connect was made with (a Role-bound user would otherwise borrow an admin's rights).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';
import { ContextClients, contextKey } from './context-clients';

const directory = mkdtempSync(join(tmpdir(), 'context-clients-'));

/** A kubeconfig of context `dev` on one server, whose user is `userName` with `token`. */
function kubeconfig(file: string, userName: string, token: string): KubeContext {
  const path = join(directory, file);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: dev, cluster: {server: "https://127.0.0.1:6443"}}]',
      `users: [{name: ${userName}, user: {token: ${token}}}]`,
      `contexts: [{name: dev, context: {cluster: dev, user: ${userName}}}]`,
      'current-context: dev',
    ].join('\n'),
  );
  return loadKubeContext({ kubeconfig: path });
}

describe('ContextClients', () => {
  const clients = new ContextClients({ log: () => undefined, onHealthChange: () => undefined });
  afterEach(() => clients.releaseAllBut([]));

  it('gives the same context and server, read from the same kubeconfig, one set of clients', () => {
    const connected = kubeconfig('admin.yaml', 'admin', 'admin-token');
    const again = loadKubeContext({ kubeconfig: join(directory, 'admin.yaml') });
    expect(contextKey(again)).toBe(contextKey(connected));
    expect(clients.for(again)).toBe(clients.for(connected));
    expect(clients.apisFor(again)).toBe(clients.for(connected).apis);
  });

  it("gives another kubeconfig's user clients of its own, though the context and server are the same", () => {
    const admin = kubeconfig('admin.yaml', 'admin', 'admin-token');
    const roleBound = kubeconfig('developer.yaml', 'developer', 'developer-token');
    const sameUserName = kubeconfig('other-admin.yaml', 'admin', 'another-token');
    const adminClients = clients.for(admin);

    expect(clients.for(roleBound).dialer).not.toBe(adminClients.dialer);
    expect(clients.for(sameUserName).dialer).not.toBe(adminClients.dialer);
    expect(clients.apisFor(roleBound)).toBe(clients.for(roleBound).apis);
    expect(clients.apisFor(roleBound)).not.toBe(adminClients.apis);
  });

  it('answers a question as a user nothing here acts as with new API clients, kept by nobody', () => {
    clients.for(kubeconfig('admin.yaml', 'admin', 'admin-token'));
    const stranger = kubeconfig('stranger.yaml', 'stranger', 'stranger-token');
    expect(clients.apisFor(stranger)).not.toBe(clients.apisFor(stranger));
    expect(clients.transportOf(stranger)).toBeUndefined();
  });

  it("releases a user's clients once nothing acts as that user, and keeps those in use", () => {
    const admin = kubeconfig('admin.yaml', 'admin', 'admin-token');
    const roleBound = kubeconfig('developer.yaml', 'developer', 'developer-token');
    const adminClients = clients.for(admin);
    const roleBoundClients = clients.for(roleBound);

    // The connect (admin) goes on; the developer's expose on the same context has ended.
    clients.releaseAllBut([admin]);
    expect(clients.for(admin)).toBe(adminClients);
    expect(clients.for(roleBound)).not.toBe(roleBoundClients);

    const again = clients.for(roleBound);
    clients.releaseAllBut([admin, roleBound]);
    expect(clients.for(roleBound)).toBe(again);

    clients.releaseAllBut([]);
    expect(clients.for(admin)).not.toBe(adminClients);
  });
});
