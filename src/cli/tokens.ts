// `berth token create|list|delete|rotate|enable|disable`: repository tokens, as `az acr token`: a
// name (the user name to sign in with) bound to a scope map, with two password slots that each may
// expire, so a password can be rotated without downtime. Over the management API, /api/v1/tokens.
import { homedir } from "node:os";
import { Command, Option } from "@commander-js/extra-typings";
import { durationOption, optionParser, parseSlot } from "./arguments.ts";
import { connect, connectionOptions, handled, serverOptions, type BerthClient, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, printLine, printSecretNotice, printTable, shortTime, yesNo } from "./output.ts";
import { confirm, yesOption } from "./prompt.ts";
import { outputOption } from "./store-options.ts";
import { Deleted } from "../api-contract/common.ts";
import { CreatedToken, IssuedPassword, TokenList, TokenView } from "../api-contract/identities.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const tokens = (...rest: string[]) => ["api", "v1", "tokens", ...rest];
const notFound = (name: string) => `token ${name} not found: see \`berth token list\``;
const expiresText = (expires: string | null | undefined) => (expires ? shortTime(expires) : "never");

async function issuePassword(berth: BerthClient, name: string, slot: 1 | 2, expiresIn: number | undefined): Promise<IssuedPassword> {
  return berth.json(IssuedPassword, "POST", tokens(name, "passwords", String(slot)), {
    json: expiresIn !== undefined ? { expiresIn } : {},
    explain: { 404: notFound(name) },
  });
}

function printIssued(name: string, issued: IssuedPassword, host: string, more: [string, string][] = []): void {
  printDetails([
    ["name", name],
    ...more,
    [`password${issued.slot}`, issued.password],
    ["expires", expiresText(issued.expires)],
  ]);
  printSecretNotice(`Sign in with user name ${name} and password${issued.slot}, e.g. \`docker login ${host} -u ${name} --password-stdin\`.`);
}

const createCommand = connectionOptions(
  new Command("create")
    .description("create a token bound to a scope map; prints its first password once")
    .argument("<name>", "token name, the user name it signs in with: letters, digits, . _ - (up to 63)")
    .addOption(new Option("--scope-map <map>", "the scope map that says what the token may do").makeOptionMandatory())
    .addOption(durationOption("--expires <duration>", "password1 stops working after this long: 30d, 12h, 90m, 3600s [default: never]"))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Examples:
  berth scope-map create ci-push --repository team/app --action content/read --action content/write
  berth token create ci --scope-map ci-push --expires 30d --server http://localhost:5000 -u admin -p "$ADMIN_PW"
  berth token create ci --scope-map ci-push -o json | jq -r '.passwords[0].password' | docker login localhost:5000 -u ci --password-stdin`,
  )
  .action(
    handled(async (name, options) => {
      const berth = await client(options);
      const created = await berth.json(CreatedToken, "POST", tokens(), {
        json: { name, scopeMap: options.scopeMap },
        explain: {
          409: `token ${name} already exists: rotate its passwords with \`berth token rotate ${name} --password 1\`, or pick another name`,
          404: (err) => `${err.message}: create the scope map first (\`berth scope-map create ${options.scopeMap} ...\`)`,
        },
      });
      // The create call takes no expiry, so an expiring password is issued into slot 1 right after;
      // the first password was never shown, so nothing that was handed out stops working.
      let issued: IssuedPassword = { slot: 1, password: created.passwords[0]?.password ?? "", expires: created.passwords[0]?.expires ?? null };
      if (options.expires !== undefined) issued = await issuePassword(berth, name, 1, options.expires);
      const result = { ...created, passwords: [issued] };
      if (options.output === "json") return printJson(result);
      printIssued(name, issued, berth.server.host, [
        ["scope map", result.scopeMap],
        ["enabled", yesNo(result.enabled)],
      ]);
    }),
  );

function passwordsText(passwords: TokenView["passwords"]): string {
  if (passwords.length === 0) return "none";
  return passwords.map((p) => `password${p.slot}${p.expires ? ` (expires ${shortTime(p.expires)})` : ""}`).join(", ");
}

const listCommand = connectionOptions(new Command("list").alias("ls").description("list the tokens, their scope maps and password expiries").addOption(outputOption()))
  .addHelpText("after", `\nExample:\n  berth token list --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (options) => {
      const found = await (await client(options)).json(TokenList, "GET", tokens());
      if (options.output === "json") return printJson(found);
      if (found.tokens.length === 0) return printLine("no tokens: create one with `berth token create <name> --scope-map <map>`");
      printTable(
        ["NAME", "SCOPE MAP", "ENABLED", "PASSWORDS", "CREATED"],
        found.tokens.map((t) => [t.name, t.scopeMap, yesNo(t.enabled), passwordsText(t.passwords), shortTime(t.created)]),
      );
    }),
  );

const deleteCommand = connectionOptions(
  new Command("delete").alias("rm").description("delete a token; its passwords stop working at once").argument("<name>", "token name").addOption(yesOption()).addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth token delete ci --yes --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
  .action(
    handled(async (name, options) => {
      const berth = await client(options);
      if (!options.yes && !(await confirm(`Delete token ${name} on ${berth.server.host}?`))) return printLine("nothing deleted");
      const result = await berth.json(Deleted, "DELETE", tokens(name), { explain: { 404: notFound(name) } });
      return options.output === "json" ? printJson(result) : printLine(`Deleted token ${name}`);
    }),
  );

const rotateCommand = serverOptions(
  new Command("rotate")
    .addOption(new Option("--password-stdin", "read YOUR password (the caller's) from stdin; --password here picks the slot"))
    .description("issue a new password into slot 1 or 2, printed once; the other slot keeps working")
    .argument("<name>", "token name")
    .addOption(new Option("--password <slot>", "which password to replace: 1 or 2").argParser(optionParser(parseSlot)).makeOptionMandatory())
    .addOption(durationOption("--expires <duration>", "the new password stops working after this long: 30d, 12h, 90m, 3600s [default: never]"))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Rotate without downtime: issue password2, move clients to it, then rotate password1.
  berth token rotate ci --password 2 --expires 90d --server http://localhost:5000 -u admin -p "$ADMIN_PW"

Here --password picks the slot: sign in with --password-stdin, BERTH_PASSWORD or a stored login (\`berth login\`).`,
  )
  .action(
    handled(async (name, options) => {
      const berth = await client({ server: options.server, username: options.username, passwordStdin: options.passwordStdin });
      const issued = await issuePassword(berth, name, options.password!, options.expires); // mandatory: commander checked it
      return options.output === "json" ? printJson(issued) : printIssued(name, issued, berth.server.host);
    }),
  );

function switchCommand(command: "enable" | "disable", enabled: boolean) {
  return connectionOptions(
    new Command(command)
      .description(enabled ? "let a token sign in again" : "refuse a token's sign-ins without deleting it")
      .argument("<name>", "token name")
      .addOption(outputOption()),
  )
    .addHelpText("after", `\nExample:\n  berth token ${command} ci --server http://localhost:5000 -u admin -p "$ADMIN_PW"`)
    .action(
      handled(async (name, options) => {
        const token = await (await client(options)).json(TokenView, "PATCH", tokens(name), { json: { enabled }, explain: { 404: notFound(name) } });
        return options.output === "json" ? printJson(token) : printLine(`${enabled ? "Enabled" : "Disabled"} token ${token.name}`);
      }),
    );
}

export const tokenCommand = new Command("token")
  .description("repository tokens: a name and two passwords bound to a scope map, like az acr token")
  .addCommand(createCommand)
  .addCommand(listCommand)
  .addCommand(deleteCommand)
  .addCommand(rotateCommand)
  .addCommand(switchCommand("enable", true))
  .addCommand(switchCommand("disable", false));
