// Renders docs/api.md from ENDPOINTS: each shape as TypeScript-like text, from zod's JSON Schema.
// `node scripts/api-doc.ts` writes the file; test/unit/api-contract.test.ts fails when it is stale.
import { z } from "zod";
import { ENDPOINTS, type Endpoint } from "./endpoints.ts";

type Json = { [key: string]: any };

/** A JSON Schema (as z.toJSONSchema writes it) as a TypeScript-like type, indented by `pad`. */
function shape(s: Json, pad: string): string {
  if (s.$ref) return String(s.$ref).split("/").at(-1)!;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v: unknown) => JSON.stringify(v)).join(" | ");
  if (Array.isArray(s.type)) return s.type.map((type: string) => shape({ ...s, type }, pad)).join(" | ");
  if (s.anyOf || s.oneOf) return (s.anyOf ?? s.oneOf).map((x: Json) => shape(x, pad)).join(" | ");
  if (s.type === "array") {
    const item = (s.items ?? {}) as Json;
    const text = shape(item, pad);
    return item.anyOf || item.oneOf || item.enum?.length > 1 ? `(${text})[]` : `${text}[]`;
  }
  if (s.type === "string") return s.format === "date-time" ? "Time" : "string";
  if (s.type === "integer") return "integer";
  if (s.type === "number" || s.type === "boolean" || s.type === "null") return s.type;
  if (s.type === "object") {
    const props = Object.entries((s.properties ?? {}) as Record<string, Json>);
    if (props.length === 0) return s.additionalProperties && s.additionalProperties !== false ? `{ [key: string]: ${shape(s.additionalProperties, pad)} }` : "{}";
    const required = new Set<string>(s.required ?? []);
    const inner = `${pad}  `;
    const lines = props.map(([key, value]) => `${inner}${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}${required.has(key) ? "" : "?"}: ${shape(value, inner)};${value.description ? ` // ${value.description}` : ""}`);
    return `{\n${lines.join("\n")}\n${pad}}`;
  }
  return "unknown";
}

function typeOf(schema: z.ZodType): string {
  const json = z.toJSONSchema(schema, { io: "output", unrepresentable: "any", reused: "inline" }) as Json;
  const defs = Object.entries((json.$defs ?? {}) as Record<string, Json>).map(([name, def]) => `\ntype ${name} = ${shape(def, "")};`);
  return `${shape(json, "")}${defs.join("")}`;
}

function block(title: string, schema: z.ZodType | "raw"): string {
  const text = schema === "raw" ? "the package (.tgz) or .prov bytes, or multipart/form-data with `chart` and `prov` files" : `\`\`\`ts\n${typeOf(schema)}\n\`\`\``;
  return `${title}:\n\n${text}\n`;
}

function section(e: Endpoint): string {
  const parts = [`### \`${e.method} ${e.path}\`\n\n${e.summary[0]!.toUpperCase()}${e.summary.slice(1)}. Access: ${e.access}.\n`];
  if (e.query) parts.push(block("Query", e.query));
  if (e.body) parts.push(block("Request body", e.body));
  for (const [status, schema] of Object.entries(e.responses)) parts.push(schema ? block(`Response ${status}`, schema) : `Response ${status}: no body.\n`);
  return parts.join("\n");
}

export function renderApiDoc(): string {
  const berth = ENDPOINTS.filter((e) => e.path.startsWith("/api/v1/"));
  const museum = ENDPOINTS.filter((e) => !e.path.startsWith("/api/v1/"));
  const index = (list: readonly Endpoint[]) => list.map((e) => `| \`${e.method}\` | \`${e.path}\` | ${e.summary} |`).join("\n");
  return `<!-- Generated from src/api-contract/ by \`node scripts/api-doc.ts\`; edit the schemas, not this file. -->
# Berth's HTTP API

Everything under \`/api\`: Berth's own JSON API at \`/api/v1/\` (identities, attributes, audit,
charts, provenance, registry-side metadata), which the \`berth\` CLI uses, and ChartMuseum's API at
\`/api/<repository>/…\`, which \`helm cm-push\` and ChartMuseum scripts use. The OCI API (\`/v2/\`),
the classic Helm repository (\`/helm/v1/\`) and the token service (\`/oauth2/\`) follow their own
specifications; see [helm.md](helm.md) and [authentication.md](authentication.md).

Every shape below is declared once with zod in \`src/api-contract/\`: the server parses request
bodies with it, the CLI parses answers with it, and the HTTP tests check every answer against it.

- **Sign in** with HTTP Basic (a user, a service principal's ID and secret, a token's name and
  password, or the admin) or a bearer token from \`/oauth2/token\`.
- **Requests** send \`application/json\` up to 64 KiB; an unknown field is refused (400).
- **Errors** under \`/api/v1/\` (and any unknown \`/api/\` path, 404 \`ENDPOINT_UNKNOWN\`) answer
  \`{"errors": [{"code": string, "message": string, "detail": unknown}]}\`; ChartMuseum's routes
  answer \`{"error": string}\` as ChartMuseum does.
- **Time** is an ISO 8601 string in UTC, e.g. \`2026-01-31T12:00:00.000Z\`. \`{name...}\` in a path
  is one or more segments (repository names hold slashes).

## Berth's API

| method | path | what |
|---|---|---|
${index(berth)}

## ChartMuseum's API

Each path also answers under \`/api/helm/v1/<repository>/…\`.

| method | path | what |
|---|---|---|
${index(museum)}

## Endpoints

${ENDPOINTS.map(section).join("\n")}`;
}
