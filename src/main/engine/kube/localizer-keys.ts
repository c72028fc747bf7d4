/**
 * The label and annotation keys Localizer writes on what it creates or changes in a cluster,
 * defined once: cleanup finds leftovers by them, and another machine's expose is told apart by
 * them, so they are a contract with every earlier version and must never change.
 */
export const localizerKeys = {
  /** On every object an expose creates (label) and on every workload it scales (annotation). */
  session: 'localizer.dev/session',
  /** `user@host` of whoever made the change. */
  owner: 'localizer.dev/owner',
  /** `namespace/service` an SSH pod stands in for. */
  service: 'localizer.dev/service',
  /** The replicas to restore: a number on a workload, `Kind/name=N,...` on an SSH pod. */
  originalReplicas: 'localizer.dev/original-replicas',
  /** What an object is for, on the pods connect makes: `relay`. */
  role: 'localizer.dev/role',
  /** The well-known label that says which tool manages an object. */
  managedBy: 'app.kubernetes.io/managed-by',
} as const;
