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
  /** On an SSH pod: its expose's mode (`takeover`, `scale-down`, `personal`). */
  mode: 'localizer.dev/mode',
  /** The replicas to restore: a number on a workload, `Kind/name=N,...` on an SSH pod. */
  originalReplicas: 'localizer.dev/original-replicas',
  /**
   * On a takeover's SSH pod (label) and in the Service's selector while it is taken over: the
   * expose's session, so the Service selects that one pod and nothing else.
   */
  intercept: 'localizer.dev/intercept',
  /** On a Service taken over: its own selector, as JSON, to put back. */
  originalSelector: 'localizer.dev/original-selector',
  /**
   * On a personal-intercept router's objects (label) and on the Service it routes (annotation):
   * the router's name, so every developer's Localizer finds the one router of a Service.
   */
  router: 'localizer.dev/router',
  /** What an object is for, on the pods connect makes: `relay`; on a router's objects: `router`. */
  role: 'localizer.dev/role',
  /** The well-known label that says which tool manages an object. */
  managedBy: 'app.kubernetes.io/managed-by',
} as const;
