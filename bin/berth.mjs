#!/usr/bin/env node
// The `berth` command: the compiled build when it is up to date, else the sources (entry.mjs).
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { entryModule } from "./entry.mjs";

await import(pathToFileURL(entryModule(join(import.meta.dirname, ".."))).href);
