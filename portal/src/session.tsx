// Who is signed in, for every page: read once from GET /api/v1/session, refreshed after
// sign-in and sign-out. The CSRF token it carries goes on every state-changing call.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { api, useCsrf, type Session } from "./api.ts";

export interface SessionState {
  session: Session | null;
  refresh: () => Promise<void>;
}

export const SessionContext = createContext<SessionState>({ session: null, refresh: async () => {} });

export function useSession(): SessionState {
  return useContext(SessionContext);
}

export async function loadSession(): Promise<Session> {
  const session = await api<Session>("GET", "/api/v1/session");
  useCsrf(session.csrf);
  return session;
}
