// Command-line values the identity commands take, parsed once at the edge: durations (`--expires 30d`),
// true|false switches (`--write-enabled false`), positive counts (`--limit 50`) and scope-map rules
// (`--repository team/app --action content/read`). The parsers are plain functions (unit-tested);
// `optionParser` turns their errors into commander's "option ... argument ... is invalid".
import { InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { Role, ScopeMapAction } from "../api-contract/identities.ts";

const ROLES = Role.options;
const SCOPE_MAP_ACTIONS = ScopeMapAction.options;

/** A value the user typed that cannot be used; the message says what would be. */
export class ArgumentError extends Error {
  override name = "ArgumentError";
}

export function optionParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      if (err instanceof ArgumentError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `30d`, `12h`, `90m`, `3600s` or plain seconds (`3600`) → seconds, a positive whole number. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(text);
  if (!match) throw new ArgumentError(`"${text}" is not a duration: use a whole number with s, m, h or d, e.g. 30d, 12h, 90m, 3600s`);
  const seconds = Number(match[1]) * (UNIT_SECONDS[(match[2] || "s").toLowerCase()] ?? 1);
  if (seconds === 0) throw new ArgumentError(`"${text}" is zero: an expiry must lie in the future, e.g. 30d`);
  if (!Number.isSafeInteger(seconds)) throw new ArgumentError(`"${text}" is too long a duration`);
  return seconds;
}

/** `true` or `false`, as az takes them. */
export function parseBoolean(text: string): boolean {
  const word = text.trim().toLowerCase();
  if (word === "true") return true;
  if (word === "false") return false;
  throw new ArgumentError(`"${text}" is not true or false`);
}

export function parsePositiveInteger(text: string): number {
  if (!/^\s*\d+\s*$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new ArgumentError(`"${text}" is not a whole number of at least 1`);
  }
  return Number(text);
}

/** Secret slot 1 or 2 (admin passwords, token passwords). */
export function parseSlot(text: string): 1 | 2 {
  if (text.trim() === "1") return 1;
  if (text.trim() === "2") return 2;
  throw new ArgumentError(`"${text}" is not a password slot: use 1 or 2`);
}

/** acrpull, acrpush, acrdelete or owner; ACR's spelling (AcrPush) is taken too. */
export function parseRole(text: string): Role {
  const role = text.trim().toLowerCase();
  if (!(ROLES as readonly string[]).includes(role)) throw new ArgumentError(`"${text}" is not a role: use ${ROLES.join(", ")}`);
  return role as Role;
}

export const durationOption = (flags: string, description: string) => new Option(flags, description).argParser(optionParser(parseDuration));
export const booleanOption = (flags: string, description: string) => new Option(flags, description).argParser(optionParser(parseBoolean));

// ---------------------------------------------------------------------------------------------
// Scope-map rules

/**
 * One --repository or --action as typed. Commander keeps each option's values apart, so every value
 * takes a number from one counter as it is parsed; sorting by it restores the command line's order,
 * which says which repository an --action belongs to.
 */
export interface RuleArgument {
  option: "repository" | "action";
  value: string;
  order: number;
}

let parsedSoFar = 0;
function collect(option: RuleArgument["option"]) {
  return (value: string, previous: RuleArgument[] | undefined): RuleArgument[] => [...(previous ?? []), { option, value, order: parsedSoFar++ }];
}

export const repositoryRuleOption = () =>
  new Option("--repository <pattern>", "a repository (team/app), a prefix (team/*) or *; repeat for more; team/app:content/read,content/write gives its actions at once").argParser(
    collect("repository"),
  );
export const actionRuleOption = () =>
  new Option("--action <action>", `what the preceding --repository allows, repeatable or comma-separated: ${SCOPE_MAP_ACTIONS.join(", ")}`).argParser(collect("action"));

export interface ScopeMapRule {
  repository: string;
  actions: ScopeMapAction[];
}

function scopeMapActions(text: string, where: string): ScopeMapAction[] {
  const words = text.split(",").map((w) => w.trim());
  if (words.some((w) => w === "")) throw new ArgumentError(`${where}: an empty action in "${text}"`);
  for (const word of words) {
    if (!(SCOPE_MAP_ACTIONS as readonly string[]).includes(word)) {
      throw new ArgumentError(`${where}: "${word}" is not a scope-map action; use ${SCOPE_MAP_ACTIONS.join(", ")}`);
    }
  }
  return words as ScopeMapAction[];
}

/**
 * The rules the arguments describe: each --action attaches to the --repository before it; a
 * repository named twice gets the union of its actions. Every repository needs an action.
 */
export function scopeMapRules(args: readonly RuleArgument[]): ScopeMapRule[] {
  const rules = new Map<string, ScopeMapAction[]>();
  let current: string | null = null;
  for (const arg of [...args].sort((a, b) => a.order - b.order)) {
    if (arg.option === "repository") {
      const colon = arg.value.indexOf(":");
      const pattern = (colon < 0 ? arg.value : arg.value.slice(0, colon)).trim();
      if (pattern === "") throw new ArgumentError(`--repository "${arg.value}": the repository pattern is empty; give e.g. team/app, team/* or *`);
      current = pattern;
      const actions = rules.get(pattern) ?? [];
      rules.set(pattern, actions);
      if (colon >= 0) actions.push(...scopeMapActions(arg.value.slice(colon + 1), `--repository ${arg.value}`));
    } else {
      if (current === null) throw new ArgumentError(`--action ${arg.value} comes before any --repository: put it after the repository it applies to`);
      rules.get(current)!.push(...scopeMapActions(arg.value, `--action ${arg.value}`));
    }
  }
  if (rules.size === 0) throw new ArgumentError("a scope map needs at least one --repository <pattern> with --action <action>");
  return [...rules].map(([repository, actions]) => {
    if (actions.length === 0) throw new ArgumentError(`--repository ${repository} has no --action: add e.g. --action content/read after it`);
    return { repository, actions: [...new Set(actions)] };
  });
}
