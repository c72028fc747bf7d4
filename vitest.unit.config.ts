/**
 * `npm run test:unit`: every test that needs no test cluster, no root, no system tool and no
 * `localizer` process, so a change to a status word or a plan is checked in seconds. A test file
 * is in it unless it starts one of those (recognised by what it calls, so a new test needs no
 * list kept by hand); `npm test` runs everything.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from './vitest.config';

/** What a test calls when it needs more than Node: a cluster, a system tool, root, the CLI. */
const needsTheWorld =
  /startTestCluster|requireSystemTools|createHostsSandbox|startHarness|bin\/localizer\.mjs|src\/cli\/main\.ts|builtCli/;

function testFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const unitTests = ['src', 'e2e']
  .flatMap(testFiles)
  .filter((file) => !needsTheWorld.test(readFileSync(file, 'utf8')));

// The base config's include would be merged in (arrays concatenate), so its test options are
// spread here instead.
// No build either: no unit test runs the CLI.
export default defineConfig({
  test: { ...base.test, include: unitTests, globalSetup: ['e2e/support/test-run-temp.ts'] },
});
