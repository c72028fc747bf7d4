/**
 * What every front end of the app shows: the contexts, the connection, every tunnel. The engine
 * side builds it; the window, the tray and the notifications are drawn from it. No kube
 * credentials or tokens ever appear here (it crosses into the renderer).
 */
import type { TunnelStatus } from './tunnel-status';

export const connectionStates = ['disconnected', 'connecting', 'connected', 'degraded', 'error'] as const;
export type ConnectionState = (typeof connectionStates)[number];

export interface ContextSummary {
  name: string;
  /** The API server URL (never credentials). */
  server: string;
  namespace: string;
}

export interface ConnectionStatus {
  state: ConnectionState;
  /** The context connected (or connecting); null when disconnected. */
  context: string | null;
  /** Why degraded or in error, in words a user can act on. */
  reason: string;
  /** Forwards running, out of those not skipped: `N of M services ready`. */
  ready: number;
  total: number;
  /** False when names in /etc/hosts are off (no helper); services are still reachable by IP. */
  namesEnabled: boolean;
  /** False while the API server cannot be reached (watches failing); tunnels then wait for it. */
  apiReachable: boolean;
}

export interface ExposeProgress {
  namespace: string;
  service: string;
  /** The step under way, e.g. `scaling down Deployment web/api`. */
  message: string;
}

/** What Localizer undid that an earlier run of its own left behind (it was killed or crashed). */
export interface CleanupNotice {
  /** New for each cleanup, so the same words twice are still two notices. */
  id: number;
  context: string;
  /** One line each, e.g. `restored Deployment web/api to 2 replicas`. */
  done: string[];
  /** What could not be undone, with the server's words; `localizer cleanup` retries. */
  failed: string[];
  /** Left alone, and why (another owner's, or still running elsewhere). */
  skipped: string[];
}

/** An expose that ended by itself (someone else undid its takeover): it leaves the list, so this says why. */
export interface ExposeEndedNotice {
  /** New for each one, so the same words twice are still two notices. */
  id: number;
  context: string;
  namespace: string;
  service: string;
  /** What ended it, who changed what, and what was left as they made it. */
  reason: string;
}

/** A project file the window opened lately, and whether an `up` of it stands now. */
export interface ProjectSummary {
  /** Absolute path of the file. */
  path: string;
  /** Its folder's name, as a project is usually called. */
  name: string;
  up: boolean;
}

export interface AppState {
  contexts: ContextSummary[];
  selectedContext: string | null;
  /** Why the kubeconfig cannot be used, or null. */
  kubeconfigProblem: string | null;
  connection: ConnectionStatus;
  tunnels: TunnelStatus[];
  exposing: ExposeProgress | null;
  /** The last cleanup after an earlier run, or null. */
  cleanup: CleanupNotice | null;
  /** The last expose that ended by itself, or null. */
  exposeEnded: ExposeEndedNotice | null;
  /** Project files opened lately in the window, newest first. */
  projects: ProjectSummary[];
}

export const disconnected: ConnectionStatus = {
  state: 'disconnected',
  context: null,
  reason: '',
  ready: 0,
  total: 0,
  namesEnabled: false,
  apiReachable: true,
};
