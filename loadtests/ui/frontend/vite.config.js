// Builds Locust's web UI (the locust-ui package) with agentsoak's Agents and Faults tabs into
// ../static, which `agentsoak ui` passes to Locust as --build-path. Rebuild: npm ci && npm run build.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: '../static',
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 8000,
  },
});
