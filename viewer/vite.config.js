// Build of the web viewer. The gateway serves viewer/dist under /viewer/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/viewer/',
  resolve: {
    // vtk.js (through xmlbuilder2) extends Node's EventEmitter: give it the browser package.
    alias: { events: fileURLToPath(new URL('./node_modules/events/events.js', import.meta.url)) },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 6000,
    sourcemap: false,
  },
  worker: {
    // The DICOM image loader decodes in module workers.
    format: 'es',
  },
  optimizeDeps: {
    // Pre-bundling breaks the loader's `new URL('./worker', import.meta.url)` (dev server only).
    exclude: ['@cornerstonejs/dicom-image-loader'],
  },
});
