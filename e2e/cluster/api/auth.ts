/** Bearer-token authentication and an RBAC-style authorizer with the real Forbidden messages. */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from './status-errors';

export interface PolicyRule {
  verbs: readonly string[];
  /** API groups; `*` for all. */
  apiGroups: readonly string[];
  /** Resources, with `resource/subresource` for subresources; `*` for all. */
  resources: readonly string[];
  /** Namespaces the rule applies in; absent means every namespace and the cluster scope. */
  namespaces?: readonly string[];
}

export interface User {
  name: string;
  groups: string[];
  token: string;
  rules: PolicyRule[];
}

export interface AccessRequest {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

function matches(list: readonly string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

/** Whether `rules` allow `request`. */
export function allows(rules: readonly PolicyRule[], request: AccessRequest): boolean {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  return rules.some(
    (rule) =>
      matches(rule.verbs, request.verb) &&
      matches(rule.apiGroups, request.group) &&
      matches(rule.resources, resource) &&
      (rule.namespaces === undefined ||
        (request.namespace !== undefined && rule.namespaces.includes(request.namespace))),
  );
}

export const adminRules: PolicyRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }];

/** The limited user: it may read services, endpoints and pods in one namespace, and port-forward there. */
export function namespaceReaderRules(namespace: string): PolicyRule[] {
  return [
    {
      verbs: ['get', 'list', 'watch'],
      apiGroups: ['', 'discovery.k8s.io'],
      resources: ['services', 'endpoints', 'pods', 'endpointslices'],
      namespaces: [namespace],
    },
    { verbs: ['get', 'create'], apiGroups: [''], resources: ['pods/portforward'], namespaces: [namespace] },
  ];
}

function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The users the cluster knows, by token. Tokens can be revoked at run time (fault injection). */
export class Authenticator {
  private readonly users = new Map<string, User>();

  addUser(name: string, groups: string[], rules: PolicyRule[]): User {
    const user: User = { name, groups, token: newToken(), rules };
    this.users.set(name, user);
    return user;
  }

  user(name: string): User | undefined {
    return this.users.get(name);
  }

  private readonly revoked = new Map<string, string>();

  /** Makes the user's current token fail with 401 from now on. */
  revokeToken(name: string): void {
    const user = this.users.get(name);
    if (!user) return;
    if (!this.revoked.has(name)) this.revoked.set(name, user.token);
    user.token = `revoked-${newToken()}`;
  }

  /** Makes a revoked token work again, as when a user's access is given back. */
  restoreToken(name: string): void {
    const user = this.users.get(name);
    const token = this.revoked.get(name);
    if (!user || token === undefined) return;
    user.token = token;
    this.revoked.delete(name);
  }

  /** The user behind an `Authorization` header; throws 401 otherwise. */
  authenticate(authorization: string | undefined): User {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (token) {
      const offered = Buffer.from(token);
      for (const user of this.users.values()) {
        const expected = Buffer.from(user.token);
        if (expected.length === offered.length && timingSafeEqual(expected, offered)) return user;
      }
    }
    throw errors.unauthorized();
  }
}

/** Throws the API server's 403 unless `user` may make `request`. */
export function authorize(user: User, request: AccessRequest): void {
  if (user.groups.includes('system:masters') || allows(user.rules, request)) return;
  throw errors.forbidden({ user: user.name, ...request });
}
