/** Builds the renderer for the browser harness, with the same Vite config as the app. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import react from '@vitejs/plugin-react';
import { build } from 'vite';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Builds into `outDir` (default `out/renderer-harness`) and returns it. */
export async function buildRenderer(outDir = join(projectRoot, 'out/renderer-harness')): Promise<string> {
  await build({
    root: join(projectRoot, 'src/renderer'),
    base: './',
    logLevel: 'warn',
    plugins: [react()],
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}
