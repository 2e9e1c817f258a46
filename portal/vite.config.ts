// Builds the portal into portal/dist (scripts/build.mjs runs it; Berth serves the result, see
// src/handlers/portal/plugin.ts). Hashed names under assets/ let Berth cache them for a year.
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [preact({ prerender: { enabled: false } })],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline <script> or data: module preload polyfill: the CSP allows script-src 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: "es2022",
    reportCompressedSize: false,
  },
  logLevel: "warn",
});
