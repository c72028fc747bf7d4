/**
 * What each control request does to the instance. The transport (`control/control-server.ts`)
 * has already checked the request against the protocol's schema; calls of the window's API are
 * checked again against the window's own argument schemas, as main's IPC checks them.
 */
import { apiArgumentSchemas, type ApiCalls } from '../../../shared/api';
import type { ControlRequest } from '../../../shared/control-protocol';
import type { Result } from '../../../shared/result';
import { describeExposedPorts } from '../../../shared/tunnel-status';
import { slowCryptoWarning } from '../expose/ssh-crypto';
import type { ControlChannel, ControlFailure, ControlHandler } from '../control/control-server';
import { InstanceRefusedError, toFailure } from './instance-refusal';
import { describeSettled } from './instance-requests';
import type { LocalizerInstance } from './localizer-instance';

/** How often `watch` sends the tunnels at most, in ms. */
const watchIntervalMs = 250;

export function classifyFailure(error: unknown): ControlFailure {
  return toFailure(error);
}

function watch(instance: LocalizerInstance, channel: ControlChannel): Promise<{ message: string }> {
  let timer: NodeJS.Timeout | undefined;
  const send = (): void => {
    timer = undefined;
    channel.event(instance.list());
  };
  const onChange = (): void => {
    timer ??= setTimeout(send, watchIntervalMs);
  };
  instance.on('change', onChange);
  send();
  const closed = new Promise<void>((resolve) => instance.once('closed', () => resolve()));
  return Promise.race([channel.hungUp, closed]).then(() => {
    instance.off('change', onChange);
    clearTimeout(timer);
    return { message: 'Localizer stopped.' };
  });
}

async function callApi(api: ApiCalls, request: Extract<ControlRequest, { op: 'api' }>): Promise<unknown> {
  const parsed = apiArgumentSchemas[request.method].safeParse(request.args);
  if (!parsed.success)
    throw new InstanceRefusedError(
      `Invalid arguments for ${request.method}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  // Each schema matches its method's parameters (checked in src/shared/api.ts).
  const call = api[request.method].bind(api) as (...args: unknown[]) => Promise<Result<unknown>>;
  // The window's expected failures are values; here they are refusals like any other.
  const result = await call(...(parsed.data as unknown[]));
  if (!result.ok) throw new InstanceRefusedError(result.message);
  return result.value;
}

export function controlHandler(instance: LocalizerInstance, api: ApiCalls): ControlHandler {
  return async (request, channel) => {
    switch (request.op) {
      case 'status':
        return instance.status();
      case 'list':
        return instance.list();
      case 'history':
        return { events: instance.tunnelEvents() };
      case 'watch':
        return watch(instance, channel);
      case 'connect': {
        const { op: _op, ...connect } = request;
        const contexts = await instance.connect(connect, channel.progress);
        const settled = await instance.whenReady(contexts, channel.progress);
        return {
          message: `Connected: ${contexts.join(', ')}${describeSettled(settled)}.`,
          settled: describeSettled(settled),
          status: instance.status(),
        };
      }
      case 'disconnect': {
        const contexts = request.contexts.length > 0 ? request.contexts : instance.connectedContexts;
        const failures = await instance.disconnect(request.contexts);
        if (failures.length > 0)
          throw new InstanceRefusedError(
            `Disconnected, but could not undo: ${failures.join('; ')}. Run \`localizer cleanup\`.`,
          );
        return {
          message:
            contexts.length === 0
              ? 'Nothing was connected.'
              : `Disconnected ${contexts.join(', ')}: its names and forwards are gone.`,
          contexts,
        };
      }
      case 'expose': {
        const { op: _op, ...expose } = request;
        // Said by the process whose ssh2 carries the tunnel, whichever front end asked.
        const slowCrypto = slowCryptoWarning();
        if (slowCrypto) channel.progress(`Warning: ${slowCrypto}`);
        const tunnel = await instance.expose(expose, channel.progress);
        return { message: `Exposed:\n${describeExposedPorts(tunnel)}`, tunnel };
      }
      case 'unexpose': {
        const target = `${request.namespace}/${request.service}`;
        const route = instance
          .tunnels()
          .find(
            (t) =>
              t.kind === 'expose' &&
              t.namespace === request.namespace &&
              t.name === request.service &&
              (request.context === undefined || t.context === request.context),
          )?.route;
        const routed = route ? `requests with ${route.header}=${route.value}` : undefined;
        channel.progress(
          routed
            ? `Stopping the personal intercept of ${target}: ${routed} go to its own pods from now on…`
            : `Stopping the expose of ${target}: giving the service back to its own pods…`,
        );
        const notice = await instance.unexpose(request);
        return {
          message: notice
            ? `Stopped, but ${notice}`
            : routed
              ? `Stopped: ${routed} go to the own pods of ${target} again.`
              : `Stopped: ${target} is served by its own pods again.`,
        };
      }
      case 'cleanup':
        return instance.cleanup(request);
      case 'environment':
        return instance.environment(request);
      case 'api':
        return callApi(api, request);
    }
  };
}
