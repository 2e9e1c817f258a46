// The one way the portal talks to Berth: its documented JSON API (docs/api.md), same origin,
// with the session cookie. Every call says it comes from the portal (no Basic dialog on a 401)
// and every state-changing call carries the session's CSRF token. URLs are built from encoded
// segments only; no name is ever spliced into a query language.
import type { z } from "zod";
import type { SessionView } from "../../src/api-contract/session.ts";

export type Session = z.infer<typeof SessionView>;

let csrf: string | null = null;

export function useCsrf(token: string | null): void {
  csrf = token;
}

export class ApiError extends Error {
  /** `detail`: the error body's, as the server sent it (say, a restore conflict's tag and digests). */
  constructor(readonly status: number, readonly code: string, message: string, readonly detail: unknown = null) {
    super(message);
  }
}

/** `/api/v1/repositories/team/app/tags`: each segment encoded, a repository's slashes kept. */
export function apiPath(...parts: (string | { repo: string })[]): string {
  return parts.map((p) => (typeof p === "string" ? p : p.repo.split("/").map(encodeURIComponent).join("/"))).join("/");
}

export function withQuery(path: string, query: Record<string, string | string[] | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", "x-berth-portal": "1" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["x-berth-csrf"] = csrf;
  const res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) {
    const first = (parsed as { errors?: { code?: string; message?: string; detail?: unknown }[]; error?: string } | null) ?? null;
    const message = first?.errors?.[0]?.message ?? first?.error ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, first?.errors?.[0]?.code ?? String(res.status), message, first?.errors?.[0]?.detail ?? null);
  }
  return parsed as T;
}
