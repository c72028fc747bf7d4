/** `localizer list [--json] [--watch]` and `localizer status`: what the running instance holds. */
import type { InstanceStatus, ListResult } from '../shared/control-answers';
import { notRunningMessage, requestControl, runningInstance } from '../main/engine/control/control-client';
import { describeHolder } from '../main/engine/control/instance-lock';
import { stateDirectory } from '../main/engine/state-directory';
import { untilStopped } from './stop-signals';
import { listJson, listTable, renderTable } from './table';

function render(list: ListResult, json: boolean): string {
  if (json) return JSON.stringify(listJson(list.tunnels), null, 2);
  const table =
    list.tunnels.length > 0 ? listTable(list.tunnels) : 'No tunnels: nothing is connected or exposed.';
  return list.health.reason ? `${table}\n\n${list.health.state}: ${list.health.reason}` : table;
}

export async function runList(
  options: { json: boolean; watch: boolean },
  print: (line: string) => void,
): Promise<number> {
  const directory = stateDirectory();
  if (!options.watch) {
    print(render(await requestControl(directory, { op: 'list' }), options.json));
    return 0;
  }
  // A terminal is redrawn in place; a pipe gets one document (one JSON line) per change.
  const redraw = process.stdout.isTTY && !options.json;
  const hangUp = new AbortController();
  const watching = requestControl(
    directory,
    { op: 'watch' },
    {
      signal: hangUp.signal,
      onEvent: (list) => {
        if (options.json) print(JSON.stringify(listJson(list.tunnels)));
        else print(`${redraw ? '\u001b[H\u001b[2J' : ''}${render(list, false)}\n`);
      },
    },
  );
  const ended = watching.then(
    () => 'ended' as const,
    () => 'ended' as const,
  );
  const outcome = await Promise.race([untilStopped().then(() => 'interrupted' as const), ended]);
  if (outcome === 'interrupted') {
    hangUp.abort(); // Ctrl-C: the usual way out.
    return 0;
  }
  await watching; // The instance stopped: say so (it rejects with why).
  return 0;
}

function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([status, count]) => `${String(count)} ${status}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

export function statusText(status: InstanceStatus): string {
  const { instance } = status;
  const lines = [
    `Localizer ${instance.version}: ${describeHolder(instance)}, since ${instance.startedAt}`,
    `State directory: ${instance.stateDirectory}`,
    `Names: ${status.helper.state}${status.helper.reason ? ` (${status.helper.reason})` : ''}${status.ipRange ? `; addresses from ${status.ipRange}` : ''}`,
    `Tunnels: ${describeCounts(status.counts)}`,
  ];
  if (status.contexts.length === 0)
    lines.push('Contexts: none connected (`localizer connect` connects one).');
  else {
    lines.push(
      '',
      renderTable(
        ['CONTEXT', 'STATE', 'READY', 'SERVER', 'PORT-FORWARD', 'REASON'],
        status.contexts.map((c) => [
          c.name,
          c.state,
          `${String(c.ready)}/${String(c.total)}`,
          c.server,
          c.transport ?? '-',
          c.reason || '-',
        ]),
      ),
    );
  }
  const exposes = status.exposes ?? [];
  if (exposes.length > 0)
    lines.push(
      '',
      renderTable(
        ['EXPOSE', 'MODE', 'STATUS', 'ROUTE', 'SHARED WITH'],
        exposes.map((e) => [
          `${e.namespace}/${e.name}`,
          e.mode ?? '-',
          e.status,
          e.route ? `${e.route.header}=${e.route.value}` : '-',
          e.route?.sharedWith.join(', ') || '-',
        ]),
      ),
    );
  return lines.join('\n');
}

export async function runStatus(options: { json: boolean }, print: (line: string) => void): Promise<number> {
  const directory = stateDirectory();
  if (!runningInstance(directory)) {
    // Not an error to ask: say plainly that nothing runs, and how to start it.
    print(options.json ? JSON.stringify({ running: false }) : notRunningMessage(directory));
    return 3;
  }
  const status = await requestControl(directory, { op: 'status' });
  print(options.json ? JSON.stringify({ running: true, ...status }, null, 2) : statusText(status));
  return 0;
}
