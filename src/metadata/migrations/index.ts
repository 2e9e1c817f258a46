// Forward-only migrations, in order. A migration never changes once released: add a new one.
import type { Migration } from "kysely/migration";
import { initial } from "./001-initial.ts";

export const migrations: Record<string, Migration> = {
  "001-initial": initial,
};
