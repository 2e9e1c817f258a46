/** The module to import for the project at `root`: dist/main.js or src/main.ts (see entry.mjs). */
export function entryModule(root: string): string;
/** Why this Node.js version cannot run Berth, or null when it can (see entry.mjs). */
export function unsupportedNode(version: string): string | null;
