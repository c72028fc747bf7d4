/**
 * `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, as the API server answers it:
 * may the asking user do this? (`kubectl auth can-i`, and Localizer's expose before it changes
 * anything.) Every authenticated user may ask about themselves, as `system:basic-user` allows
 * in a real cluster; nothing is stored.
 */
import { allows } from './auth';
import { sendJson, type ExtraRoute } from './http-server';
import { isRecord } from './objects';
import { errors } from './status-errors';

const path = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

function text(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  return typeof value === 'string' ? value : '';
}

export function accessReviewRoute(): ExtraRoute {
  return ({ request, response, url, user, body }) => {
    if (url.pathname.replace(/\/+$/, '') !== path) return false;
    if (request.method !== 'POST') throw errors.methodNotAllowed();
    const review: unknown = body.trim() ? JSON.parse(body) : {};
    const spec = isRecord(review) && isRecord(review.spec) ? review.spec : {};
    const attributes = isRecord(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    if (!attributes)
      throw errors.badRequest(
        'SelfSubjectAccessReview.spec: one of resourceAttributes or nonResourceAttributes is required',
      );
    const subresource = text(attributes, 'subresource');
    const namespace = text(attributes, 'namespace');
    const name = text(attributes, 'name');
    const allowed =
      user.groups.includes('system:masters') ||
      allows(user.rules, {
        verb: text(attributes, 'verb'),
        group: text(attributes, 'group'),
        resource: text(attributes, 'resource'),
        ...(subresource ? { subresource } : {}),
        ...(namespace ? { namespace } : {}),
        ...(name ? { name } : {}),
      });
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
