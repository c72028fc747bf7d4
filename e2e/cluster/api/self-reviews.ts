/**
 * What any signed-in user may ask the API server about itself, answered and never stored, as the
 * real one does for every authenticated user (`system:basic-user`):
 * - `selfsubjectaccessreviews`: may I do this? (`kubectl auth can-i`, and Localizer's expose
 *   before it changes anything);
 * - `selfsubjectrulesreviews`: what may I do in this namespace? (`kubectl auth can-i --list`);
 * - `selfsubjectreviews`: who am I? (`kubectl auth whoami`).
 * A user who reads Localizer's "your account may not …" runs the last two first.
 */
import { allows, type PolicyRule, type User } from './auth';
import { sendJson, type ExtraRoute } from './http-server';
import { isRecord } from './objects';
import { errors } from './status-errors';

const accessReviewPath = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const rulesReviewPath = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
const whoAmIPath = '/apis/authentication.k8s.io/v1/selfsubjectreviews';

function text(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  return typeof value === 'string' ? value : '';
}

function isAdmin(user: User): boolean {
  return user.groups.includes('system:masters');
}

/** What every signed-in user may do besides its own rules: these reviews, and discovery. */
const basicUserRules = [
  {
    verbs: ['create'],
    apiGroups: ['authorization.k8s.io'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
  },
  { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
];
const discoveryUrls = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/openapi',
  '/openapi/*',
  '/readyz',
  '/version',
  '/version/',
];

/** The user's rules that hold in `namespace`, in the review's words. */
function resourceRulesIn(user: User, namespace: string): object[] {
  const own: readonly PolicyRule[] = isAdmin(user)
    ? [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]
    : user.rules.filter((rule) => rule.namespaces === undefined || rule.namespaces.includes(namespace));
  return [...basicUserRules, ...own].map(({ verbs, apiGroups, resources }) => ({
    verbs,
    apiGroups,
    resources,
  }));
}

/** Whether a user's rules allow what an access review asks: a resource, or a URL (`/healthz`). */
function allowedByRules(user: User, spec: Record<string, unknown>): boolean {
  if (isRecord(spec.nonResourceAttributes)) {
    // Every signed-in user may read discovery's URLs (`/api/*` also covers what is under it).
    const path = text(spec.nonResourceAttributes, 'path');
    return (
      text(spec.nonResourceAttributes, 'verb') === 'get' &&
      discoveryUrls.some((url) => (url.endsWith('*') ? path.startsWith(url.slice(0, -1)) : path === url))
    );
  }
  const attributes = isRecord(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  if (!attributes)
    throw errors.badRequest(
      'SelfSubjectAccessReview.spec: one of resourceAttributes or nonResourceAttributes is required',
    );
  const subresource = text(attributes, 'subresource');
  const namespace = text(attributes, 'namespace');
  const name = text(attributes, 'name');
  return allows([...basicUserRules, ...user.rules], {
    verb: text(attributes, 'verb'),
    group: text(attributes, 'group'),
    resource: text(attributes, 'resource'),
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  });
}

function review(body: string): Record<string, unknown> {
  const parsed: unknown = body.trim() ? JSON.parse(body) : {};
  return isRecord(parsed) ? parsed : {};
}

function specOf(body: string): Record<string, unknown> {
  const spec = review(body).spec;
  return isRecord(spec) ? spec : {};
}

export function selfReviewRoutes(): ExtraRoute {
  return ({ request, response, url, user, body }) => {
    const path = url.pathname.replace(/\/+$/, '');
    if (![accessReviewPath, rulesReviewPath, whoAmIPath].includes(path)) return false;
    if (request.method !== 'POST') throw errors.methodNotAllowed();
    if (path === whoAmIPath) {
      sendJson(response, 201, {
        kind: 'SelfSubjectReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        status: {
          userInfo: { username: user.name, groups: [...new Set([...user.groups, 'system:authenticated'])] },
        },
      });
      return true;
    }
    const spec = specOf(body);
    if (path === rulesReviewPath) {
      const namespace = text(spec, 'namespace');
      if (!namespace)
        throw errors.badRequest(
          'SelfSubjectRulesReview.spec.namespace: Required value: no namespace on request',
        );
      sendJson(response, 201, {
        kind: 'SelfSubjectRulesReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec,
        status: {
          resourceRules: resourceRulesIn(user, namespace),
          nonResourceRules: isAdmin(user)
            ? [{ verbs: ['*'], nonResourceURLs: ['*'] }]
            : [{ verbs: ['get'], nonResourceURLs: discoveryUrls }],
          incomplete: false,
        },
      });
      return true;
    }
    const allowed = isAdmin(user) || allowedByRules(user, spec);
    sendJson(response, 201, {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed },
    });
    return true;
  };
}
