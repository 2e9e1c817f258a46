// `berth user add|list|delete|reset-password`: named users who sign in with a password and hold
// roles (acrpull, acrpush, acrdelete, owner). Over the management API, /api/v1/users.
//
// `add` and `reset-password` read the NEW password with --password-stdin, so these two take the
// caller's own password from -p, BERTH_PASSWORD or a stored login, never from stdin.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { optionParser, parseRole } from "./arguments.ts";
import { CliError, connect, connectionOptions, handled, passwordOption, readAllStdin, serverOptions, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, printLine, printSecretNotice, printTable, shortTime, yesNo } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { CreatedUser, UserList, UserPassword, type Role } from "../api-contract/identities.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const users = (...rest: string[]) => ["api", "v1", "users", ...rest];
const ROLES_HELP = "acrpull (pull), acrpush (pull, push), acrdelete (delete), owner (everything, and managing identities)";
const notFound = (name: string) => `user ${name} not found: see \`berth user list\``;

const newPasswordOption = () =>
  new Option("--password-stdin", "read the new user's password from stdin (without it Berth generates one and prints it once)");

/** The new password from stdin, or undefined: Berth generates one. */
async function newPassword(fromStdin: boolean | undefined, command: "add" | "reset-password"): Promise<string | undefined> {
  if (!fromStdin) return undefined;
  const password = (await readAllStdin(`printf '%s' "$NEW_PW" | berth user ${command} <name> --password-stdin ...`)).replace(/\r?\n$/, "");
  if (password === "") throw new CliError("--password-stdin read an empty password");
  return password;
}

/** The flags that sign the caller in: no --password-stdin here (it carries the new password). */
const callerFlags = (o: { server?: string; username?: string; password?: string }): ConnectionFlags => ({ server: o.server, username: o.username, password: o.password });

const addCommand = serverOptions(
  new Command("add")
    .description("add a user who signs in with a password; without --password-stdin Berth generates the password and prints it once")
    .argument("<name>", "user name: letters, digits, . _ - (up to 63)")
    .addOption(
      new Option("--role <role>", `a role, repeatable: ${ROLES_HELP}`)
        .argParser((value: string, previous: Role[] | undefined) => [...(previous ?? []), optionParser(parseRole)(value)])
        .makeOptionMandatory(),
    )
    .addOption(newPasswordOption())
    .addOption(outputOption()),
)
  .addOption(passwordOption())
  .addHelpText(
    "after",
    `
Examples:
  berth user add ci --role acrpush --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  printf '%s' "$NEW_PW" | berth user add alice --role acrpull --role acrdelete --password-stdin -u admin -p "$ADMIN_PW"

The caller signs in with -u/-p, BERTH_USERNAME/BERTH_PASSWORD or a stored login (\`berth login\`).`,
  )
  .action(
    handled(async (name, options) => {
      const given = await newPassword(options.passwordStdin, "add");
      const berth = await client(callerFlags(options));
      const created = await berth.json(CreatedUser, "POST", users(), {
        json: { name, roles: [...new Set(options.role)], ...(given !== undefined ? { password: given } : {}) },
        explain: { 409: `user ${name} already exists: pick another name, or \`berth user reset-password ${name}\`` },
      });
      // A password the caller typed is not echoed back; only a generated one is shown (once).
      const shown = given === undefined ? created : { ...created, password: undefined };
      if (options.output === "json") return printJson(shown);
      if (given !== undefined) return printLine(`Added user ${created.name} (${created.roles.join(", ")})`);
      printDetails([
        ["name", created.name],
        ["roles", created.roles.join(", ")],
        ["password", created.password],
      ]);
      printSecretNotice(`Sign in as ${created.name} with this password, e.g. \`docker login ${berth.server.host} -u ${created.name} --password-stdin\`.`);
    }),
  );

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the users, their roles and whether they may sign in").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth user list --server http://localhost:5000 -u admin -p "$ADMIN_PW" -o json`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(UserList, "GET", users());
      if (options.output === "json") return printJson(found);
      if (found.users.length === 0) return printLine("no users: add one with `berth user add <name> --role acrpull`");
      printTable(
        ["NAME", "ROLES", "ENABLED", "CREATED"],
        found.users.map((u) => [u.name, u.roles.join(","), yesNo(u.enabled), shortTime(u.created)]),
      );
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("delete a user; its password stops working at once").argument("<name>", "user name").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExamples:\n  berth user delete alice --server http://localhost:5000 -u admin -p "$ADMIN_PW"\n  berth user delete alice --yes      # no question (scripts)`)
  .action(
    handled(async (name, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Delete user ${name} on ${berth.server.host}?`))) return printLine("nothing deleted");
      const result = await berth.json(Deleted, "DELETE", users(name), { explain: { 404: notFound(name) } });
      return options.output === "json" ? printJson(result) : printLine(`Deleted user ${name}`);
    }),
  );

const resetCommand = serverOptions(
  new Command("reset-password")
    .description("give a user a new password: read from stdin, or generated and printed once; the old one stops working at once")
    .argument("<name>", "user name")
    .addOption(newPasswordOption())
    .addOption(outputOption()),
)
  .addOption(passwordOption())
  .addHelpText(
    "after",
    `
Examples:
  berth user reset-password alice --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  printf '%s' "$NEW_PW" | berth user reset-password alice --password-stdin -u admin -p "$ADMIN_PW"`,
  )
  .action(
    handled(async (name, options) => {
      const given = await newPassword(options.passwordStdin, "reset-password");
      const berth = await client(callerFlags(options));
      const reset = await berth.json(UserPassword, "POST", users(name, "password"), {
        json: given !== undefined ? { password: given } : {},
        explain: { 404: notFound(name) },
      });
      const shown = given === undefined ? reset : { ...reset, password: undefined };
      if (options.output === "json") return printJson(shown);
      if (given !== undefined) return printLine(`Set a new password for ${name}`);
      printDetails([
        ["name", reset.name],
        ["password", reset.password],
      ]);
      printSecretNotice(`Sign in as ${reset.name} with this password; the old one no longer works.`);
    }),
  );

export const userCommand = new Command("user")
  .description("users who sign in with a name and password, and their roles")
  .addCommand(addCommand)
  .addCommand(listCommand)
  .addCommand(deleteCommand)
  .addCommand(resetCommand)
  .addHelpText("after", `\nRoles: ${ROLES_HELP}.`);
