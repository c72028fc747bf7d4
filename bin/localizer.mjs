#!/usr/bin/env node
// The `localizer` command: the built CLI when present, else the sources through tsx (development).
import { existsSync } from 'node:fs';

const built = new URL('../out/main/cli.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
