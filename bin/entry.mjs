// Which program bin/berth.mjs runs: the compiled JavaScript in dist/ while that build is newer than
// every source (npm run build; npm ci and npm test build it), else the TypeScript sources directly
// (Node 24 strips the types). Both are the same program; the build saves the ~17 MB that Node's
// TypeScript stripper keeps once it has loaded a .ts file, and a stale build is never run.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** When the build in <root>/dist started (dist/.built), or null without a finished build. */
function builtAt(root) {
  try {
    return Number(readFileSync(join(root, "dist", ".built"), "utf8").trim()) || null;
  } catch {
    return null;
  }
}

/** Whether any source under `dir` changed at or after `since` (ms). */
function changedSince(dir, since) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (changedSince(path, since)) return true;
    } else if (/\.(ts|mjs)$/.test(entry.name) && statSync(path).mtimeMs >= since) {
      return true;
    }
  }
  return false;
}

/** The module to import for the project at `root`: dist/main.js or src/main.ts. */
export function entryModule(root) {
  const built = builtAt(root);
  const fresh = built !== null && !changedSince(join(root, "src"), built);
  return join(root, fresh ? "dist/main.js" : "src/main.ts");
}

/**
 * Why this Node.js cannot run Berth, or null when it can. Older versions lack node:sqlite and
 * type stripping and would fail with an error about a missing built-in module instead.
 */
export function unsupportedNode(version) {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= 24) return null;
  return `berth needs Node.js 24 or newer (package.json "engines"), and this is ${version}. Run it as bin/berth or through npm (npm start, npx berth): both use the Node.js 24 that npm ci installs into node_modules. Or install Node.js 24.`;
}
