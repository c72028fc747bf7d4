/**
 * How an expose starts, as a fixed list of steps: check and plan, record, create the SSH pod and
 * open its tunnel, wait until the pod is ready, then take the Service. Recorded before the first
 * change, so a crash from there on leaves a trace `cleanUpLeftovers` finds; the session undoes
 * what `ExposeParts` holds when a step fails.
 */
import type { ExposeMode } from '../../../shared/tunnel-status';
import { isPodReady } from '../kube/pod-state';
import type { ExposeParts } from './expose-parts';
import type { SessionApis } from './expose-preflight';
import { planExpose } from './expose-preflight';
import { writeRecord } from './expose-records';
import { checkModeAndHeader, type ExposeRequest } from './expose-request';
import { generateSshKeys } from './ssh-pod';

/** The expose as its start steps see it. */
export interface StartingExpose {
  session: string;
  context: string;
  kubeconfigFiles: string[] | undefined;
  apis: SessionApis;
  stateDirectory: string;
  request: ExposeRequest;
  mode: ExposeMode;
  made: ExposeParts;
  startTimeoutMs: number;
  /** The pod exists: the status can name it. */
  podCreated(): void;
  /** Opens the tunnel into the SSH pod, and keeps it up from then on. */
  openTunnel(): Promise<void>;
}

export interface StartStep {
  /** What the status says while the step runs; undefined keeps the last words. */
  says?: (expose: StartingExpose) => string;
  run: (expose: StartingExpose) => Promise<void>;
}

const target = (expose: StartingExpose): string => `${expose.request.namespace}/${expose.request.service}`;

export const startSteps: readonly StartStep[] = [
  {
    says: (e) => `reading service ${target(e)}`,
    run: async (e) => {
      const { request } = e;
      // Every front end comes through here: a header and its mode are checked once.
      checkModeAndHeader(request);
      e.made.plan = await planExpose(
        e.apis,
        { context: e.context, namespace: request.namespace, service: request.service },
        request.mappings,
        e.mode,
        request.header,
      );
    },
  },
  {
    // Recorded before the first change, so a crash from here on leaves a trace.
    run: (e) => {
      e.made.keys = generateSshKeys();
      writeRecord(e.stateDirectory, {
        session: e.session,
        pid: process.pid,
        context: e.context,
        ...(e.kubeconfigFiles ? { kubeconfigFiles: e.kubeconfigFiles } : {}),
        namespace: e.request.namespace,
        service: e.request.service,
        objectName: e.made.pod().objectName,
        mode: e.mode,
        // A takeover changes no workload; a scale-down names the ones it scales.
        workloads:
          e.mode !== 'scale-down'
            ? []
            : (e.made.plan?.workloads ?? []).map(({ kind, namespace, name }) => ({ kind, namespace, name })),
      });
      return Promise.resolve();
    },
  },
  {
    says: (e) => `creating the SSH pod in ${e.request.namespace}`,
    run: async (e) => {
      await e.made.pod().create();
      e.podCreated();
      await e.openTunnel();
    },
  },
  {
    says: (e) => `waiting for the SSH pod of ${target(e)} to be ready (its tunnel up)`,
    run: async (e) => {
      await e.made.pod().waitFor(isPodReady, 'become ready', e.startTimeoutMs);
    },
  },
  {
    says: (e) => e.made.mode().routing,
    run: async (e) => {
      // Marked first: a takeover that fails midway is given back (nothing happens if unchanged).
      e.made.routed = true;
      await e.made.mode().route();
    },
  },
];
