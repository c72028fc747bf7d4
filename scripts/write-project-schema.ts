/** Writes schema/localizer.schema.json from the project file's zod schema (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { projectFileJsonSchema } from '../src/shared/project-file';

const target = fileURLToPath(new URL('../schema/localizer.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(projectFileJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
