// The portal's session (docs/portal.md): sign in with any credential Berth accepts, get an
// HttpOnly cookie and the CSRF token to echo in `X-Berth-CSRF` on every state-changing call.
import { z } from "zod";

export const SignIn = z.strictObject({
  /** A user or token name, a service principal's id, `admin`, or the zero-GUID name with a refresh token. */
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(8192),
});

export const SessionView = z.strictObject({
  /** Who the session is; null when not signed in. */
  identity: z.strictObject({ name: z.string(), kind: z.enum(["admin", "user", "sp", "token"]) }).nullable(),
  /** Whether anonymous pull is on (the read-only pages then work without signing in). */
  anonymousPull: z.boolean(),
  /** Whether the identity may manage identities and settings (an unscoped owner). */
  manage: z.boolean(),
  /** The token to send in `X-Berth-CSRF` on every state-changing request; null when not signed in. */
  csrf: z.string().nullable(),
  /** When the session ends. */
  expires: z.iso.datetime().nullable(),
});
