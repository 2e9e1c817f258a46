// The identities page's pieces (pages/identities.tsx): one section per kind of identity (users,
// service principals, scope maps, tokens), each a line per identity with its buttons and the form
// that adds one, and the fields those forms share. Every name is rendered as text.
import { Fragment, type ComponentChildren } from "preact";
import { type Loaded, Status } from "./components.tsx";

/** A button on an identity's line: what it does (its text, also its accessible name) and the call. */
export interface Action {
  label: string;
  danger?: boolean;
  run: () => Promise<void>;
}

/**
 * One kind of identity (users, service principals, scope maps, tokens): a section with its heading,
 * a line per identity (its text, then its buttons), and the form that adds one (`children`).
 */
export function IdentityList<L, T>({ id, title, loaded, items, entry, act, children }: {
  id: string;
  title: string;
  loaded: Loaded<L>;
  items: (list: L) => T[];
  entry: (item: T) => { key: string; text: ComponentChildren; actions: Action[] };
  act: (work: () => Promise<void>) => Promise<void>;
  children: ComponentChildren;
}) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <Status loaded={loaded}>
        {(list) => (
          <ul>
            {items(list).map(entry).map(({ key, text, actions }) => (
              <li key={key}>
                {text}
                {actions.map((a) => (
                  <Fragment key={a.label}>
                    {" "}
                    <button type="button" class={a.danger ? "danger" : undefined} onClick={() => void act(a.run)}>
                      {a.label}
                    </button>
                  </Fragment>
                ))}
              </li>
            ))}
          </ul>
        )}
      </Status>
      {children}
    </section>
  );
}

export function NameField() {
  return (
    <label>
      Name <input name="name" required />
    </label>
  );
}

const ROLES = ["acrpull", "acrpush", "acrdelete", "owner"] as const;

export function RoleField() {
  return (
    <label>
      Role
      <select name="role">
        {ROLES.map((role) => (
          <option key={role}>{role}</option>
        ))}
      </select>
    </label>
  );
}
