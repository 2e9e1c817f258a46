// Sign in with any identity Berth knows: admin, a user, a service principal (by its id), a
// scope-map token, or the zero-GUID name with the token `berth login --expose-token` prints.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, type Session } from "../api.ts";
import { useSession } from "../session.tsx";

/**
 * Where ?next= may send the user: a page of the portal on this very origin, else "/" (as an absolute URL). The browser
 * resolves it as a link would (new URL), so "/\\evil.example" or "/\t/evil.example", which a
 * prefix check takes for paths, are seen as the other site they are; the API and registry
 * prefixes (which the server never answers with a page) are not pages.
 */
export function afterSignIn(next: string | undefined): string {
  if (!next) return "/";
  let url: URL;
  try {
    url = new URL(next, location.origin);
  } catch {
    return "/";
  }
  if (url.origin !== location.origin || /^\/+(?:v2|helm|api|oauth2|token|healthz|metrics)(?:[/?]|$)/.test(url.pathname)) return "/";
  // Absolute: a path such as "//evil.example" (from "/.//evil.example") would read as a host again.
  return url.href;
}

export function SignInPage() {
  const { refresh, session } = useSession();
  const { query } = useLocation();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      await api<Session>("POST", "/api/v1/session", { username: String(form.get("username") ?? ""), password: String(form.get("password") ?? "") });
      await refresh();
      location.assign(afterSignIn(query.next));
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <section class="narrow">
      <h1>Sign in to Berth</h1>
      {session?.identity && <p>You are signed in as {session.identity.name}.</p>}
      <form onSubmit={(e) => void submit(e)}>
        <label for="username">User name, service principal ID or token name</label>
        <input id="username" name="username" autoComplete="username" required />
        <label for="password">Password, secret or token</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        <p class="hint">
          With a token from <code>berth login --expose-token</code>, the user name is <code>00000000-0000-0000-0000-000000000000</code>.
        </p>
        {error && (
          <p class="problem" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      {session?.anonymousPull && !session.identity && (
        <p>
          Anonymous pull is on: <a href="/">browse without signing in</a>.
        </p>
      )}
    </section>
  );
}
