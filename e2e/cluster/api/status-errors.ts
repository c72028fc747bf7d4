/**
 * Kubernetes `Status` failures with the reasons and message formats a real kube-apiserver sends,
 * so kubectl prints `Error from server (Reason): message` exactly as it would against a real cluster.
 */

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'Expired'
  | 'Gone'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'TooManyRequests';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field: string }[];
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: StatusReason | '';
  details?: StatusDetails;
  code: number;
}

/** A failure that the API server turns into a `Status` response. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): StatusBody {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `resource` is the plural with its group, as the API server prints it: `deployments.apps`. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  notFound(resource: string, group: string, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, {
      name,
      group,
      kind: resource,
    });
  },
  alreadyExists(resource: string, group: string, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, {
      name,
      group,
      kind: resource,
    });
  },
  conflict(resource: string, group: string, name: string): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group, kind: resource },
    );
  },
  invalid(kind: string, group: string, name: string, causes: { field: string; message: string }[]): ApiError {
    const summary = causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ');
    const listed = causes.length > 1 ? `[${summary}]` : summary;
    return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${listed}`, {
      name,
      group,
      kind,
      causes: causes.map((cause) => ({
        reason: 'FieldValueInvalid',
        message: cause.message,
        field: cause.field,
      })),
    });
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  },
  forbidden(options: {
    user: string;
    verb: string;
    resource: string;
    subresource?: string;
    group: string;
    namespace?: string;
    name?: string;
  }): ApiError {
    const { user, verb, resource, subresource, group, namespace, name } = options;
    const subject = name ? `${qualified(resource, group)} "${name}"` : qualified(resource, group);
    const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
    const full = subresource ? `${resource}/${subresource}` : resource;
    return new ApiError(
      403,
      'Forbidden',
      `${subject} is forbidden: User "${user}" cannot ${verb} resource "${full}" in API group "${group}" ${scope}`,
      { ...(name ? { name } : {}), group, kind: resource },
    );
  },
  gone(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  methodNotAllowed(): ApiError {
    return new ApiError(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    );
  },
  unknownPath(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  },
  unsupportedMediaType(contentType: string): ApiError {
    return new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got ${contentType}`,
    );
  },
  internal(message: string): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`);
  },
  serviceUnavailable(message: string): ApiError {
    return new ApiError(503, 'ServiceUnavailable', message);
  },
};
