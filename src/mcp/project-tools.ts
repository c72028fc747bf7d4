/**
 * The MCP tools for project files (`localizer.yaml`): plan, up and down, as `localizer up`
 * (and its plan) and `localizer down` do them, except that `run:` processes are not started
 * (they need a terminal).
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ControlError, notRunningMessage, runningInstance } from '../main/engine/control/control-client';
import { bringDown, bringUp, preparePlan } from '../main/engine/project/project-control';
import { defaultProjectFileName, readProjectFile } from '../main/engine/project/project-file-reader';
import type { LocalizerMcpOptions } from './mcp-options';
import { answer, attempt, failure } from './tool-results';

export function registerProjectTools(server: McpServer, options: LocalizerMcpOptions): void {
  const projectInput = z.strictObject({
    file: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(`the project file; default: ${defaultProjectFileName} in the server's working directory`),
  });
  const project = (file: string | undefined) => readProjectFile(resolve(file ?? defaultProjectFileName));

  server.registerTool(
    'project_plan',
    {
      title: 'Plan a project file',
      description: `What \`localizer up\` of a project file (${defaultProjectFileName}) would change now: contexts and namespaces to connect, services to expose, processes to run, what is already as the file says, and what \`down\` would undo. Changes nothing.`,
      inputSchema: projectInput,
      annotations: { readOnlyHint: true },
    },
    (input) =>
      attempt(async () => {
        const prepared = await preparePlan(options.stateDirectory, project(input.file));
        return answer({ changes: prepared.changes, plan: prepared.lines }, prepared.lines.join('\n'));
      }),
  );

  server.registerTool(
    'project_up',
    {
      title: 'Bring a project file up',
      description:
        "Carries out a project file's plan in the running Localizer: connects, exposes, and records it for project_down. Its `run:` processes are not started from here (they need a terminal): the answer says how to start them.",
      inputSchema: projectInput,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const loaded = project(input.file);
        if (!runningInstance(options.stateDirectory))
          return failure(new ControlError(notRunningMessage(options.stateDirectory), 'not-running'));
        const steps: string[] = [];
        const prepared = await bringUp(options.stateDirectory, loaded, {
          source: options.source,
          print: (line) => steps.push(line),
        });
        const said = [...prepared.lines, ...steps];
        const runs = loaded.file.run ?? [];
        if (runs.length > 0 && !prepared.processesElsewhere)
          said.push(
            `Not started from here: ${runs.map((r) => r.name).join(', ')}. Run \`localizer up -f ${loaded.path}\` in a terminal to run them with their workloads' environment.`,
          );
        said.push(prepared.plan.changes ? 'Up.' : 'Everything was already up as the file says.');
        return answer({ changed: prepared.plan.changes, log: said }, said.join('\n'));
      }),
  );

  server.registerTool(
    'project_down',
    {
      title: 'Bring a project file down',
      description:
        'Undoes what `localizer up` (or project_up) of the file did, and nothing else; stops the processes of the `up` that runs them.',
      inputSchema: projectInput,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    (input) =>
      attempt(async () => {
        const path = resolve(input.file ?? defaultProjectFileName);
        const said: string[] = [];
        const down = await bringDown(options.stateDirectory, path, (line) => said.push(line));
        if (!down)
          return answer(
            { message: `Nothing to bring down: no up of ${path} is recorded.` },
            `Nothing to bring down: no up of ${path} is recorded.`,
          );
        if (down.failures.length > 0) return failure(new Error(said.join('\n')));
        said.push(`Down: ${path} is undone.`);
        return answer({ log: said }, said.join('\n'));
      }),
  );
}
