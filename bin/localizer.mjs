#!/usr/bin/env node
// The `localizer` command: the sources through tsx in a development checkout (so it is never a
// stale build), else the built CLI.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../out/main/cli.js', import.meta.url);
const tsxInstalled = existsSync(new URL('../node_modules/tsx/package.json', import.meta.url));
if (existsSync(source) && tsxInstalled) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(built.href);
}
