// Scope grammar (distribution docs spec/auth/scope.md): `type:name:action[,action]`, names may
// hold a host:port, so the type ends at the first colon and the actions start after the last.
import { ACTIONS, CATALOG, type Access, type Action } from "../../auth/identity.ts";

const REPOSITORY_ACTIONS: readonly Action[] = ["pull", "push", "delete", "metadata_read", "metadata_write"];

export function parseScopes(scopes: readonly string[]): Access[] {
  const wanted: Access[] = [];
  for (const scope of scopes) {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first < 0 || last <= first) continue;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const actions = scope.slice(last + 1).split(",").filter(Boolean);
    if (type === "registry") {
      if (name === "catalog" && actions.some((a) => a === "*" || a === "catalog")) wanted.push(CATALOG);
      continue;
    }
    // ACR's classic Helm scope (`artifact-repository:repo:pull`) and the deprecated `repository(plugin)`.
    if (type !== "repository" && type !== "artifact-repository" && !type.startsWith("repository(")) continue;
    for (const action of actions) {
      const expanded = action === "*" ? REPOSITORY_ACTIONS : ACTIONS.includes(action as Action) && action !== "catalog" && action !== "manage" ? [action as Action] : [];
      for (const a of expanded) wanted.push({ type: "repository", name, action: a });
    }
  }
  return wanted;
}
