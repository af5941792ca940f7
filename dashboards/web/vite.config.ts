import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Two pages: the duty-room board at `/` and the phone-sized worker view at `/worker/`. Built apart from vitest
 * (its own config file), into `dashboards/web/dist`, which the hub serves.
 */
export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      input: {
        board: fileURLToPath(new URL('./index.html', import.meta.url)),
        worker: fileURLToPath(new URL('./worker/index.html', import.meta.url)),
      },
    },
  },
  server: {
    // `npx vite --config dashboards/web/vite.config.ts` during development, against a hub on :8080.
    proxy: {
      '/api': { target: 'http://127.0.0.1:8080', changeOrigin: false },
      '/mqtt': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
});
