import { readFileSync } from 'node:fs';

/** This CLI's version, from the package it ships in (told to a running instance and to MCP clients). */
export function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
