/**
 * The one contract between the renderer, the preload and the main process (and the browser
 * harness, which implements it over a WebSocket). Main's handlers, the preload object
 * (`satisfies LocalizerApi`) and the renderer are all typed from here, and every argument is
 * checked against `apiArgumentSchemas` before it reaches the engine.
 */
import { z } from 'zod';
import type { AppState } from './app-state';
import type { Result } from './result';
import { settingsSchema, type Settings } from './settings';
import {
  exposeModes,
  routeHeaderName,
  routeHeaderValue,
  type ExposeMode,
  type TunnelStatus,
} from './tunnel-status';

/** Every way a call can fail that the renderer is expected to handle. */
export const ipcErrorCodes = ['invalid-input', 'not-allowed', 'refused', 'internal'] as const;
export type IpcErrorCode = (typeof ipcErrorCodes)[number];

export interface AppInfo {
  /** Localizer's version, from package.json. */
  version: string;
  /** `process.platform` of the main process. */
  platform: string;
  /** Electron's version, or `null` when the UI runs in a plain browser harness. */
  electron: string | null;
}

export interface ExposeRequestInput {
  namespace: string;
  service: string;
  /** Each service port (name or number) to a port on this machine; empty maps each to its own number. */
  mappings: { localPort: number; remote: string | number }[];
  /** `takeover` (the default), `scale-down` or `personal` (with `header`). */
  mode?: ExposeMode;
  /** A personal intercept's header name and value. */
  header?: { name: string; value: string };
}

export interface TunnelTarget {
  namespace: string;
  name: string;
}

/** A service's workload environment, ready to paste: `.env` text and what to know about it. */
export interface EnvironmentText {
  /** `.env` lines, with comments naming rewritten and missing variables. */
  dotenv: string;
  variables: number;
  rewritten: number;
  missing: number;
}

/** A project file as the window shows it: its plan against what runs now. */
export interface ProjectView {
  path: string;
  /** The plan, a line each, as `localizer up` prints it. */
  plan: string[];
  /** Whether bringing its cluster side up would change anything. */
  changes: boolean;
  up: boolean;
  /** Its `run:` processes by name: the window does not run them (`localizer up` in a terminal does). */
  processes: string[];
  /** What the last up or down said, a line each (empty after a plan). */
  log: string[];
}

type Call<T> = Promise<Result<T, IpcErrorCode>>;

/** What the renderer can ask of the main process. One method per message. */
export interface LocalizerApi {
  getAppInfo(): Call<AppInfo>;
  getState(): Call<AppState>;
  selectContext(name: string): Call<AppState>;
  /** Connects the selected context. */
  connect(): Call<AppState>;
  disconnect(): Call<AppState>;
  expose(request: ExposeRequestInput): Call<TunnelStatus>;
  stopExpose(target: TunnelTarget): Call<AppState>;
  /** The environment of the service's workload, as `.env` text (the window copies it). */
  getEnvironment(target: TunnelTarget): Call<EnvironmentText>;
  /** Opens a terminal whose shell has that environment, where the platform allows. */
  openTerminal(target: TunnelTarget): Call<null>;
  /** Reads a project file and plans it (and remembers it among the recent ones). */
  planProject(path: string): Call<ProjectView>;
  /** Brings its context and exposes up in this Localizer. */
  projectUp(path: string): Call<ProjectView>;
  /** Undoes what an up of it did. */
  projectDown(path: string): Call<ProjectView>;
  getSettings(): Call<Settings>;
  updateSettings(settings: Settings): Call<Settings>;
  /** Every change of state; returns an unsubscribe function. */
  onState(listener: (state: AppState) => void): () => void;
  /** A notification was clicked: show this tunnel. */
  onFocusTunnel(listener: (target: TunnelTarget) => void): () => void;
}

export type ApiCallName = {
  [K in keyof LocalizerApi]: LocalizerApi[K] extends (listener: never) => () => void ? never : K;
}[keyof LocalizerApi];
export type ApiEventName = Exclude<keyof LocalizerApi, ApiCallName>;

/** Channel names, `domain:verb`, one per method. */
export const channels = {
  getAppInfo: 'app:info',
  getState: 'state:get',
  selectContext: 'context:select',
  connect: 'connection:connect',
  disconnect: 'connection:disconnect',
  expose: 'tunnel:expose',
  stopExpose: 'tunnel:stop-expose',
  getEnvironment: 'environment:get',
  openTerminal: 'environment:open-terminal',
  planProject: 'project:plan',
  projectUp: 'project:up',
  projectDown: 'project:down',
  getSettings: 'settings:get',
  updateSettings: 'settings:update',
  onState: 'state:changed',
  onFocusTunnel: 'tunnel:focus',
} as const satisfies Record<keyof LocalizerApi, `${string}:${string}`>;

const kubeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'not a valid Kubernetes name')
  .max(253);
const port = z.number().int().min(1, 'a port is 1-65535').max(65535, 'a port is 1-65535');

/** A personal intercept's header, as every front end's request carries it. */
export const routeHeaderSchema = z.strictObject({
  name: z.string().toLowerCase().regex(routeHeaderName, 'not an HTTP header name (letters, digits, -)'),
  value: z.string().regex(routeHeaderValue, 'not 1-64 letters, digits or ._~-'),
});

export const exposeRequestSchema = z.object({
  namespace: kubeName,
  service: kubeName,
  mappings: z.array(z.object({ localPort: port, remote: z.union([kubeName, port]) })).max(64),
  mode: z.enum(exposeModes).optional(),
  header: routeHeaderSchema.optional(),
}) satisfies z.ZodType<ExposeRequestInput>;

export const tunnelTargetSchema = z.object({ namespace: kubeName, name: kubeName });

const projectPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((path) => path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path), 'the full path of the project file')
  .refine((path) => !path.includes('\u0000'), 'a path has no NUL');

/** The arguments of every call, checked where they arrive (main's IPC, the harness socket). */
export const apiArgumentSchemas = {
  getAppInfo: z.tuple([]),
  getState: z.tuple([]),
  selectContext: z.tuple([z.string().min(1).max(253)]),
  connect: z.tuple([]),
  disconnect: z.tuple([]),
  expose: z.tuple([exposeRequestSchema]),
  stopExpose: z.tuple([tunnelTargetSchema]),
  getEnvironment: z.tuple([tunnelTargetSchema]),
  openTerminal: z.tuple([tunnelTargetSchema]),
  planProject: z.tuple([projectPath]),
  projectUp: z.tuple([projectPath]),
  projectDown: z.tuple([projectPath]),
  getSettings: z.tuple([]),
  updateSettings: z.tuple([settingsSchema]),
} satisfies { [K in ApiCallName]: z.ZodType<Parameters<LocalizerApi[K]>> };

/** The calls, without the subscriptions: what main (or the harness) implements. */
export type ApiCalls = Pick<LocalizerApi, ApiCallName>;
