// The portal: one page per URL (a link can be shared, the back button works), served by Berth at
// `/` (docs/portal.md). Pages load their data from Berth's JSON API; repository and chart pages
// sit under catch-all routes because repository names hold slashes (paths.ts).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { LocationProvider, Router, Route, lazy, useLocation } from "preact-iso";
import { api, useCsrf, type Session } from "./api.ts";
import { SessionContext, loadSession } from "./session.tsx";
import { RepositoriesPage } from "./pages/repositories.tsx";
import { SignInPage } from "./pages/sign-in.tsx";
import "./style.css";

const RepoRoute = lazy(() => import("./pages/repository.tsx").then((m) => m.RepoRoute));
const ChartsPage = lazy(() => import("./pages/charts.tsx").then((m) => m.ChartsPage));
const ChartPage = lazy(() => import("./pages/chart.tsx").then((m) => m.ChartPage));
const SearchPage = lazy(() => import("./pages/search.tsx").then((m) => m.SearchPage));
const IdentitiesPage = lazy(() => import("./pages/identities.tsx").then((m) => m.IdentitiesPage));
const SettingsPage = lazy(() => import("./pages/settings.tsx").then((m) => m.SettingsPage));
const LifecyclePage = lazy(() => import("./pages/lifecycle.tsx").then((m) => m.LifecyclePage));

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        <a href="/">All repositories</a>
      </p>
    </>
  );
}

function Header({ session, onSignOut }: { session: Session | null; onSignOut: () => void }) {
  const { path } = useLocation();
  const link = (href: string, text: string) => (
    <li>
      <a href={href} aria-current={(href === "/" ? path === "/" || path.startsWith("/r/") : path.startsWith(href)) ? "page" : undefined}>
        {text}
      </a>
    </li>
  );
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <a class="brand" href="/">
        Berth
      </a>
      <nav aria-label="Main">
        <ul>
          {link("/", "Repositories")}
          {link("/charts", "Charts")}
          {link("/search", "Search")}
          {session?.manage && link("/identities", "Identities")}
          {session?.manage && link("/lifecycle", "Lifecycle")}
          {session?.manage && link("/settings", "Settings")}
        </ul>
      </nav>
      <div class="who">
        {session?.identity ? (
          <>
            <span>
              Signed in as <strong>{session.identity.name}</strong>
            </span>{" "}
            <button type="button" onClick={onSignOut}>
              Sign out
            </button>
          </>
        ) : (
          <a href="/sign-in">Sign in</a>
        )}
      </div>
    </header>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [ready, setReady] = useState(false);
  const refresh = async () => {
    try {
      setSession(await loadSession());
    } catch {
      setSession(null);
    }
    setReady(true);
  };
  useEffect(() => {
    void loadSession()
      .then((loaded) => {
        setSession(loaded);
        // Nothing is readable without signing in unless anonymous pull is on: go to the sign-in page.
        if (!loaded.identity && !loaded.anonymousPull && location.pathname !== "/sign-in") {
          location.replace(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
          return;
        }
        setReady(true);
      })
      .catch(() => setReady(true));
  }, []);
  const signOut = async () => {
    await api("DELETE", "/api/v1/session").catch(() => undefined);
    useCsrf(null);
    await refresh();
    location.assign("/sign-in");
  };
  return (
    <SessionContext.Provider value={{ session, refresh }}>
      <LocationProvider>
        <Header session={session} onSignOut={() => void signOut()} />
        <main id="main" tabIndex={-1}>
          {ready ? (
            <Router>
              <Route path="/" component={RepositoriesPage} />
              <Route path="/sign-in" component={SignInPage} />
              <Route path="/r/*" component={RepoRoute} />
              <Route path="/charts" component={ChartsPage} />
              <Route path="/charts/*" component={ChartPage} />
              <Route path="/search" component={SearchPage} />
              <Route path="/identities" component={IdentitiesPage} />
              <Route path="/lifecycle" component={LifecyclePage} />
              <Route path="/settings" component={SettingsPage} />
              <Route default component={NotFound} />
            </Router>
          ) : (
            <p aria-busy="true">Loading…</p>
          )}
        </main>
      </LocationProvider>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
