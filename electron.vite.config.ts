import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'electron-vite';

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: {
          index: resolve(import.meta.dirname, 'src/main/index.ts'),
          // Its own entry: root runs this file, and nothing else of the app.
          'privileged-helper': resolve(import.meta.dirname, 'src/privileged-helper/main.ts'),
          // The headless CLI drives the same engine; `bin/localizer.mjs` runs it.
          cli: resolve(import.meta.dirname, 'src/cli/main.ts'),
        },
        // Shared and lazily loaded parts beside the entries, not in a chunks/ folder: modules find
        // the helper (`./privileged-helper.js`) and package.json (`../../package.json`) from
        // their own URL, so every module of main must sit at the same depth.
        output: { chunkFileNames: '[name]-[hash].js' },
      },
    },
  },
  preload: {
    // A sandboxed preload must be one self-contained CommonJS file.
    build: {
      isolatedEntries: true,
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve(import.meta.dirname, 'src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(import.meta.dirname, 'src/renderer'),
    build: { rollupOptions: { input: { index: resolve(import.meta.dirname, 'src/renderer/index.html') } } },
    plugins: [react()],
  },
});
