/** The module to import for the project at `root`: dist/main.js or src/main.ts (see entry.mjs). */
export function entryModule(root: string): string;
