// Every answer under /api checked against the wire contract (src/api-contract/): the HTTP tests
// call this for each response they receive, so a handler that adds, drops or renames a field, or
// answers a status the contract does not name, fails the test that saw it.
import { ErrorBody, MuseumErrorBody } from "../../src/api-contract/common.ts";
import { findEndpoint } from "../../src/api-contract/endpoints.ts";

export function checkApiAnswer(method: string, url: string, status: number, body: Buffer): void {
  const path = url.split("?")[0]!;
  if (!path.startsWith("/api/") || method === "HEAD" || status === 304) return;
  const endpoint = findEndpoint(method, path);
  const where = `${method} ${path} answered ${status}`;
  if (status >= 400) {
    const json = parsed(body, where);
    const museum = endpoint?.error === MuseumErrorBody && MuseumErrorBody.safeParse(json).success;
    if (!museum) strict(ErrorBody, json, `${where} with an error body outside the contract`);
    return;
  }
  if (!endpoint) throw new Error(`${where}, but src/api-contract/endpoints.ts declares no such endpoint`);
  if (!(status in endpoint.responses)) throw new Error(`${where}, a status ${endpoint.method} ${endpoint.path} does not declare`);
  const schema = endpoint.responses[status];
  if (schema) strict(schema, parsed(body, where), `${where} with a body outside the contract`);
}

function parsed(body: Buffer, where: string): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new Error(`${where} with a body that is not JSON: ${body.toString("utf8").slice(0, 200)}`);
  }
}

function strict(schema: { safeParse(value: unknown): { success: boolean; error?: { issues: unknown[] } } }, value: unknown, what: string): void {
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`${what}: ${JSON.stringify(result.error?.issues.slice(0, 3))}\nbody: ${JSON.stringify(value).slice(0, 600)}`);
}
