// Writes docs/api.md from the wire contract (src/api-contract/): node scripts/api-doc.ts
import { writeFileSync } from "node:fs";
import { renderApiDoc } from "../src/api-contract/document.ts";

writeFileSync(new URL("../docs/api.md", import.meta.url), renderApiDoc());
