#!/usr/bin/env node
// The `berth` command: the compiled build when it is up to date, else the sources (entry.mjs).
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { entryModule, unsupportedNode } from "./entry.mjs";

const unsupported = unsupportedNode(process.version);
if (unsupported) {
  process.stderr.write(`${unsupported}\n`);
  process.exit(1);
}
await import(pathToFileURL(entryModule(join(import.meta.dirname, ".."))).href);
