/**
 * A watch: newline-delimited `{type, object}` events on a chunked response, resumable from a
 * resourceVersion, with selector transitions (an object that stops matching is DELETED for the
 * watcher) and 410 Gone as an ERROR event when the history is too short.
 */
import type { ServerResponse } from 'node:http';
import { ApiError } from './status-errors';
import type { KubeObject } from './objects';
import type { ObjectMatcher } from './selectors';
import { resourceKey, apiVersionOf, type ResourceType } from './resources';
import type { ObjectStore, StoreEvent } from './store';
import { toTable, type IncludeObject } from './tables';

export interface WatchRequest {
  type: ResourceType;
  namespace: string | undefined;
  /** The watch's label, field and name selection together. */
  selects: ObjectMatcher;
  /** Undefined or "0": start with the current state as ADDED events. */
  resourceVersion: string | undefined;
  timeoutSeconds: number | undefined;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  table: { includeObject: IncludeObject } | undefined;
}

type Outgoing = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: unknown };

/** Streams a watch on `res` until the client goes away, the timeout passes, or `res` is destroyed. */
export function serveWatch(store: ObjectStore, request: WatchRequest, res: ServerResponse): void {
  const { type, namespace } = request;
  const key = resourceKey(type);
  let sentColumns = false;

  const matches = (object: KubeObject | undefined): boolean =>
    object !== undefined &&
    (namespace === undefined || object.metadata.namespace === namespace) &&
    request.selects(object);

  const render = (object: KubeObject): unknown => {
    if (!request.table) return object;
    const table = toTable(type.kind, [object], {
      includeObject: request.table.includeObject,
      withColumns: !sentColumns,
    });
    sentColumns = true;
    return table;
  };

  const send = (event: Outgoing): void => {
    res.write(`${JSON.stringify(event)}\n`);
  };

  const translate = (event: StoreEvent): void => {
    const now = matches(event.object);
    const before = event.type === 'ADDED' ? false : matches(event.previous);
    if (event.type === 'DELETED') {
      if (before) send({ type: 'DELETED', object: render(event.object) });
    } else if (now && before) {
      send({ type: 'MODIFIED', object: render(event.object) });
    } else if (now) {
      send({ type: 'ADDED', object: render(event.object) });
    } else if (before) {
      send({ type: 'DELETED', object: render(event.object) });
    }
  };

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();

  let backlog: StoreEvent[];
  const fromVersion = Number(request.resourceVersion ?? '0');
  const startFresh = !request.resourceVersion || request.resourceVersion === '0' || request.sendInitialEvents;
  try {
    backlog = startFresh ? [] : store.eventsSince(type, fromVersion);
  } catch (error) {
    if (error instanceof ApiError) {
      send({ type: 'ERROR', object: error.toStatus() });
      res.end();
      return;
    }
    throw error;
  }

  if (startFresh) {
    for (const object of store.list(type, namespace)) {
      if (matches(object)) send({ type: 'ADDED', object: render(object) });
    }
    if (request.sendInitialEvents && request.allowBookmarks) {
      send({
        type: 'BOOKMARK',
        object: {
          kind: type.kind,
          apiVersion: apiVersionOf(type),
          metadata: {
            resourceVersion: String(store.currentRevision),
            annotations: { 'k8s.io/initial-events-end': 'true' },
          },
        },
      });
    }
  }
  for (const event of backlog) translate(event);

  // Replay and subscription happen in one synchronous turn, so no event falls between them.
  const onChange = (event: StoreEvent): void => {
    if (resourceKey(event.resource) === key) translate(event);
  };
  store.on('change', onChange);

  const timers: NodeJS.Timeout[] = [];
  const stop = (): void => {
    store.off('change', onChange);
    for (const timer of timers) clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  if (request.timeoutSeconds !== undefined && request.timeoutSeconds > 0) {
    timers.push(setTimeout(stop, request.timeoutSeconds * 1000));
  }
  // `req.on('close')` fires once the empty body is read; the response's close is the client leaving.
  res.on('close', stop);
}
