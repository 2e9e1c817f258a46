// `npm run build` (also run by `npm ci` and `npm test`): builds the portal into portal/dist/ and compiles src/ to plain JavaScript in dist/,
// which bin/berth runs while it is newer than every source. Why: a Node process that loads one .ts
// file also loads Node's TypeScript stripper and keeps it, about 17 MB of resident memory for the
// server's whole life (docs/performance.md, "Memory"). dist/.built records when the build started,
// so a source saved during the build counts as newer and is never run stale.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const tsc = join(root, "node_modules", ".bin", "tsc");
if (!existsSync(tsc)) {
  console.error("build: node_modules/.bin/tsc is missing; run npm ci first");
  process.exit(1);
}
// A second early: file times come from a coarse kernel clock, and a source saved just before the
// build may carry a time after Date.now() says it started. Erring early only runs the sources.
const started = Date.now() - 1000;
rmSync(dist, { recursive: true, force: true }); // no output of a deleted source survives
const result = spawnSync(tsc, ["-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
if (result.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  console.error("build: tsc failed; bin/berth runs the TypeScript sources until a build succeeds");
  process.exit(result.status ?? 1);
}
// The portal (portal/, Preact + Vite) into portal/dist, which Berth serves at `/`.
const vite = join(root, "node_modules", "vite", "bin", "vite.js");
const portal = spawnSync(process.execPath, [vite, "build", "--config", join(root, "portal", "vite.config.ts")], { stdio: "inherit" });
if (portal.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  console.error("build: the portal's vite build failed");
  process.exit(portal.status ?? 1);
}
writeFileSync(join(dist, ".built"), `${started}\n`);
