// Pieces every page uses: loading a resource, the copyable command, error notes, tables, key/value
// tables, the pager of a server-paged list. Every value is rendered as text (Preact escapes it);
// nothing here builds HTML.
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.ts";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` whenever a key changes; the last answer wins. */
export function useLoad<T>(load: () => Promise<T>, keys: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => current && setState({ data, error: null, loading: false }),
      (error: Error) => current && setState({ data: null, error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [...keys, round]);
  return { ...state, reload: () => setRound((r) => r + 1) };
}

/** A form's submit handler: the form's fields (and the form, to reset it) to `work`, run under `act`. */
export type Submit = (work: (form: FormData, element: HTMLFormElement) => Promise<void>) => (event: Event) => void;

/** A page's one problem line and the way to run a button's (`act`) or form's (`submit`) work under it: a failure is shown, not thrown. */
export function useProblem(): { problem: Error | null; act: (work: () => Promise<void>) => Promise<void>; submit: Submit } {
  const [problem, setProblem] = useState<Error | null>(null);
  const act = async (work: () => Promise<void>) => {
    setProblem(null);
    try {
      await work();
    } catch (err) {
      setProblem(err as Error);
    }
  };
  const submit: Submit = (work) => (event) => {
    event.preventDefault();
    const element = event.currentTarget as HTMLFormElement;
    void act(() => work(new FormData(element), element));
  };
  return { problem, act, submit };
}

export function Problem({ error }: { error: Error }) {
  const signIn = error instanceof ApiError && error.status === 401;
  return (
    <p class="problem" role="alert">
      {error.message}
      {signIn && (
        <>
          {" "}
          <a href={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</a>
        </>
      )}
    </p>
  );
}

export function Status<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (loaded.error) return <Problem error={loaded.error} />;
  if (loaded.loading && !loaded.data) return <p aria-busy="true">Loading…</p>;
  return loaded.data ? <>{children(loaded.data)}</> : null;
}

/** A command in a read-only box with a Copy button (the Clipboard API; the text stays selectable). */
export function Command({ label, text }: { label: string; text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="command">
      <span class="command-label">{label}</span>
      <code>{text}</code>
      <button
        type="button"
        aria-label={`Copy: ${label}`}
        onClick={() => {
          navigator.clipboard?.writeText(text).then(() => setCopied(true), () => setCopied(false));
        }}
      >
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}

/**
 * A table in a box that scrolls sideways on a narrow screen: a caption, one header row of column
 * names, the rows the page renders (`children`), and `footer` under the table (say, "None."). A
 * `list` page's heading already names its table, so its caption is for screen readers only.
 */
export function Table({ caption, columns, list = false, children, footer }: { caption: ComponentChildren; columns: ComponentChildren[]; list?: boolean; children: ComponentChildren; footer?: ComponentChildren }) {
  return (
    <div class="scroll">
      <table class={list ? "list" : undefined}>
        <caption class={list ? "sr-only" : undefined}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((column, i) => (
              <th scope="col" key={i}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
      {footer}
    </div>
  );
}

/** A loaded list as a table of its `rows`, one `<tr>` each from `children`, or the line `empty` when there is none. */
export function TableOf<T, R>({ loaded, rows, empty, caption, columns, children }: { loaded: Loaded<T>; rows: (data: T) => R[]; empty: string; caption: string; columns: ComponentChildren[]; children: (row: R) => ComponentChildren }) {
  return (
    <Status loaded={loaded}>
      {(data) => {
        const list = rows(data);
        return list.length === 0 ? (
          <p class="muted">{empty}</p>
        ) : (
          <Table caption={caption} columns={columns}>
            {list.map(children)}
          </Table>
        );
      }}
    </Status>
  );
}

export function KeyValues({ caption, entries, render }: { caption: string; entries: [string, string][]; render?: (key: string, value: string) => ComponentChildren }) {
  if (entries.length === 0) return <p class="muted">No {caption.toLowerCase()}.</p>;
  return (
    <Table caption={caption} columns={["Key", "Value"]}>
      {entries.map(([key, value]) => (
        <tr key={key}>
          <th scope="row">
            <code>{key}</code>
          </th>
          <td class="value">{render ? render(key, value) : value}</td>
        </tr>
      ))}
    </Table>
  );
}

/** Where a server-paged list stands: the cursors of the pages walked so far, the last one shown. */
export interface Cursors {
  /** The `last` to ask the API for (null: the first page). */
  last: string | null;
  /** Whether a page before this one was shown. */
  hasPrevious: boolean;
  previous: () => void;
  next: (cursor: string) => void;
  /** Back to the first page (a filter or the sort changed). */
  reset: () => void;
}

export function useCursors(): Cursors {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    last: cursors[cursors.length - 1] ?? null,
    hasPrevious: cursors.length > 1,
    previous: () => setCursors(cursors.slice(0, -1)),
    next: (cursor) => setCursors([...cursors, cursor]),
    reset: () => setCursors([null]),
  };
}

/** Previous / next page of a list the server pages with a cursor; `next` is the answer's. */
export function Pager({ cursors, next, label = "Pages" }: { cursors: Cursors; next: string | null; label?: string }) {
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" disabled={!cursors.hasPrevious} onClick={cursors.previous}>
        Previous page
      </button>
      <button type="button" disabled={!next} onClick={() => next && cursors.next(next)}>
        Next page
      </button>
    </nav>
  );
}

/**
 * Asks before a change; `action` names the button that goes ahead ("Delete" unless said). The
 * question takes the focus, on Cancel (`autofocus` does nothing for an element added once the page
 * has a focus), and gives it back to what asked when it goes, so the keyboard stays where it was.
 */
export function Confirm({ what, action = "Delete", onConfirm, onCancel }: { what: string; action?: string | undefined; onConfirm: () => void; onCancel: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  // Before the browser paints (a layout effect): a key pressed right after lands on Cancel.
  useLayoutEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    cancel.current?.focus();
    return () => {
      const at = document.activeElement;
      if (opener?.isConnected && (!at || at === document.body || box.current?.contains(at))) opener.focus();
    };
  }, []);
  return (
    <div class="confirm" role="alertdialog" aria-labelledby="confirm-text" ref={box}>
      <p id="confirm-text">{what}</p>
      <button type="button" class="danger" onClick={onConfirm}>
        {action}
      </button>{" "}
      <button type="button" onClick={onCancel} ref={cancel}>
        Cancel
      </button>
    </div>
  );
}

/** A change that asks first (Confirm's `what` and `action`), then runs under useProblem's `act`. */
export interface Question {
  what: string;
  action?: string;
  run: () => Promise<void>;
}

/** One question at a time: `ask` shows it where the page puts `question`; going ahead runs it under `act`. */
export function useConfirm(act: (work: () => Promise<void>) => Promise<void>): { ask: (question: Question) => void; question: ComponentChildren } {
  const [asked, setAsked] = useState<Question | null>(null);
  const question = asked && (
    <Confirm
      what={asked.what}
      action={asked.action}
      onCancel={() => setAsked(null)}
      onConfirm={() => {
        setAsked(null);
        void act(asked.run);
      }}
    />
  );
  return { ask: setAsked, question };
}
