// Sign in with any identity Berth knows: admin, a user, a service principal (by its id), a
// scope-map token, or the zero-GUID name with the token `berth login --expose-token` prints.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, type Session } from "../api.ts";
import { useSession } from "../session.tsx";

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
      const next = query.next && query.next.startsWith("/") && !query.next.startsWith("//") ? query.next : "/";
      location.assign(next);
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
