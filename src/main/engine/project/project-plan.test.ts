import { describe, expect, it } from 'vitest';
import type { ProjectFile } from '../../../shared/project-file';
import {
  describeStep,
  planProject,
  recordAfter,
  type CurrentState,
  type ProjectRecord,
} from './project-plan';

const file: ProjectFile = {
  connect: { namespaces: ['web'], names: false },
  exposes: [{ service: 'web/api', map: ['3000:http'] }],
};
const nothing: CurrentState = { connectedContexts: [], exposes: [] };
const afterUp: ProjectRecord = {
  processesIn: null,
  ...recordAfter(planProject(file, 'dev', undefined, nothing), '/p/localizer.yaml', undefined),
};
const upNow: CurrentState = {
  connectedContexts: ['dev'],
  exposes: [{ context: 'dev', namespace: 'web', service: 'api' }],
};

function lines(
  project: ProjectFile,
  record: ProjectRecord | undefined,
  current: CurrentState,
  context = 'dev',
) {
  return planProject(project, context, record, current).steps.map((s) =>
    describeStep(s).replace(/\s+/g, ' '),
  );
}

describe('the plan of localizer up', () => {
  it.each([
    {
      case: 'a first up connects and exposes',
      project: file,
      record: undefined,
      current: nothing,
      plan: [
        'connect dev: namespaces web, by address only (no names)',
        'expose web/api: http → 127.0.0.1:3000 (takeover)',
      ],
    },
    {
      case: 'the same file again changes nothing',
      project: file,
      record: afterUp,
      current: upNow,
      plan: ['unchanged dev is connected', 'unchanged web/api is exposed'],
    },
    {
      case: 'a context someone else connected is kept, and not ours to undo',
      project: file,
      record: undefined,
      current: { connectedContexts: ['dev'], exposes: [] },
      plan: [
        'unchanged dev is connected (not by this project: down leaves it)',
        'expose web/api: http → 127.0.0.1:3000 (takeover)',
      ],
    },
    {
      case: 'an edited mapping exposes again',
      project: {
        ...file,
        exposes: [{ service: 'web/api', map: ['4000:http'], mode: 'scale-down' as const }],
      },
      record: afterUp,
      current: upNow,
      plan: [
        'unchanged dev is connected',
        're-expose web/api: http → 127.0.0.1:4000 (scale-down) (its port mappings, mode or header changed in the file)',
      ],
    },
    {
      case: 'an expose taken out of the file is undone, and only that',
      project: { connect: file.connect },
      record: afterUp,
      current: upNow,
      plan: ['unchanged dev is connected', 'unexpose web/api (it is no longer in the file)'],
    },
    {
      case: 'changed namespaces reconnect, and the exposes are made again',
      project: { ...file, connect: { namespaces: ['web', 'data'], names: false } },
      record: afterUp,
      current: upNow,
      plan: [
        'reconnect dev: namespaces web, data, by address only (no names) (its namespaces or names changed in the file; its exposes are made again)',
        'expose web/api: http → 127.0.0.1:3000 (takeover)',
      ],
    },
    {
      case: 'a connect taken out of the file disconnects, and the exposes the disconnect ends are made again',
      project: { exposes: file.exposes },
      record: afterUp,
      current: upNow,
      plan: [
        'disconnect dev (the file no longer connects it)',
        'expose web/api: http → 127.0.0.1:3000 (takeover)',
      ],
    },
    {
      case: 'a project moved to another context undoes what it made in the old one',
      project: file,
      record: afterUp,
      current: upNow,
      context: 'staging',
      plan: [
        'unexpose web/api (the project moved from context dev to staging)',
        'disconnect dev (the project moved from context dev to staging)',
        'connect staging: namespaces web, by address only (no names)',
        'expose web/api: http → 127.0.0.1:3000 (takeover)',
      ],
    },
  ])('$case', ({ project, record, current, plan, context }) => {
    expect(lines(project, record, current, context)).toEqual(plan);
  });

  it('records what this project made, so down undoes only that', () => {
    expect(afterUp.connected).toEqual({ namespaces: ['web'], excludeNamespaces: [], names: false });
    expect(afterUp.exposes.map((e) => `${e.namespace}/${e.service}`)).toEqual(['web/api']);
    const notOurs = recordAfter(
      planProject(file, 'dev', undefined, { connectedContexts: ['dev'], exposes: [] }),
      '/p/localizer.yaml',
      undefined,
    );
    expect(notOurs.connected, 'a context connected before up is not disconnected by down').toBeNull();
    expect(planProject(file, 'dev', afterUp, upNow).changes).toBe(false);
  });
});
