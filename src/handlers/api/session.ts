// GET/POST/DELETE /api/v1/session: the portal's sign-in (src/auth/sessions.ts holds the rules,
// http/session-cookie.ts the cookie and the CSRF check). These routes identify the caller
// themselves: a stale cookie must not stop anyone from signing in again.
import { SignIn } from "../../api-contract/session.ts";
import type { z } from "zod";
import type { SessionView } from "../../api-contract/session.ts";
import { MANAGE, type Identity } from "../../auth/identity.ts";
import type { OpenSession } from "../../auth/sessions.ts";
import { RegistryError } from "../../domain/errors.ts";
import { checkCsrf, checkOrigin, clearSessionCookie, sessionCookiesOf, setSessionCookie } from "../../http/session-cookie.ts";
import { bodyOf, type ApiContext } from "./context.ts";

function view(ctx: ApiContext, opened: OpenSession | null): z.infer<typeof SessionView> {
  const who: Identity | null = opened?.identity ?? null;
  const kind = who && (who.kind === "admin" || who.kind === "user" || who.kind === "sp" || who.kind === "token") ? who.kind : null;
  return {
    identity: who && kind ? { name: (who as { name: string }).name, kind } : null,
    anonymousPull: ctx.guard.authorizer.mayPing({ kind: "anonymous" }),
    manage: who ? ctx.guard.authorizer.may(who, MANAGE) : false,
    csrf: opened?.session.csrf ?? null,
    expires: opened?.session.expiresAt.toISOString() ?? null,
  };
}

/** The session of the cookie, or null: an ended one clears the cookie instead of failing. */
async function current(ctx: ApiContext): Promise<OpenSession | null> {
  try {
    return await ctx.guard.session(ctx.request);
  } catch (err) {
    if (err instanceof RegistryError && err.code === "UNAUTHORIZED") {
      clearSessionCookie(ctx.request, ctx.reply, ctx.publicUrl);
      return null;
    }
    throw err;
  }
}

export async function getSession(ctx: ApiContext) {
  ctx.reply.header("cache-control", "no-store");
  return view(ctx, await current(ctx));
}

export async function postSession(ctx: ApiContext) {
  checkOrigin(ctx.request, ctx.publicUrl);
  const { username, password } = bodyOf(ctx, SignIn);
  const previous = sessionCookiesOf(ctx.request, ctx.publicUrl);
  const opened = await ctx.sessions.signIn(username, password, ctx.guard.context(ctx.request));
  // A new id at every sign-in (no session fixation); the old session, if any, ends.
  for (const cookie of previous) await ctx.sessions.end(cookie);
  setSessionCookie(ctx.request, ctx.reply, ctx.publicUrl, opened.cookie, opened.session.expiresAt);
  ctx.reply.header("cache-control", "no-store");
  return view(ctx, opened);
}

export async function deleteSession(ctx: ApiContext) {
  const opened = await current(ctx);
  if (opened) {
    checkCsrf(ctx.request, opened.session, ctx.publicUrl);
    for (const cookie of sessionCookiesOf(ctx.request, ctx.publicUrl)) await ctx.sessions.end(cookie);
  }
  clearSessionCookie(ctx.request, ctx.reply, ctx.publicUrl);
  return { deleted: true };
}
