import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { projectFileJsonSchema } from '../../../shared/project-file';
import { parseProjectFile, readProjectFile } from './project-file-reader';

describe('the project file JSON Schema', () => {
  it('is the one in schema/localizer.schema.json (run `npm run schema` after changing the file format)', () => {
    const committed: unknown = JSON.parse(
      readFileSync(new URL('../../../../schema/localizer.schema.json', import.meta.url), 'utf8'),
    );
    expect(committed).toEqual(projectFileJsonSchema());
  });

  it('accepts the demo project in examples/', () => {
    const example = new URL('../../../../examples/demo/localizer.yaml', import.meta.url).pathname;
    const loaded = readProjectFile(example, {});
    expect(loaded.file.exposes).toEqual([{ service: 'web/api', map: ['3000:http'] }]);
    expect(loaded.file.run?.[0]?.command, "the shell expands it, with the workload's environment").toBe(
      'python3 -m http.server ${LAPTOP_PORT:-3000} --bind 127.0.0.1',
    );
  });

  it('takes ${VAR} from the environment, and names an unset one where it is used', () => {
    const text = [
      'exposes:',
      '  - service: web/${SERVICE}',
      '    map: ["${PORT:-4000}:grpc"]',
      'run:',
      '  - name: api',
      '    workload: web/api',
      "    command: echo ${PORT} is the process's",
      '    workingDirectory: a$$b',
      '',
    ].join('\n');
    const parsed = parseProjectFile(text, 'p.yaml', { SERVICE: 'api' }).file;
    expect(parsed.exposes).toEqual([{ service: 'web/api', map: ['4000:grpc'] }]);
    expect(parsed.run?.[0]?.command, 'a command is the process’s, as written').toBe(
      "echo ${PORT} is the process's",
    );
    expect(parsed.run?.[0]?.workingDirectory, '$$ is a $').toBe('a$b');
    expect(() => parseProjectFile(text, 'p.yaml', {})).toThrow(
      /p\.yaml:2:14: \$\{SERVICE\} is not set in the environment; set it, or give a default/,
    );
  });
});
