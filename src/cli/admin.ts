// `berth admin show|enable|disable|rotate-password <1|2>`: the built-in admin user, like
// `az acr update --admin-enabled` and `az acr credential renew --password-name password|password2`.
// Over the management API: GET/PATCH /api/v1/admin, POST /api/v1/admin/passwords/{1|2}.
import { homedir } from "node:os";
import { Argument, Command } from "@commander-js/extra-typings";
import { optionParser, parseSlot } from "./arguments.ts";
import { connect, connectionOptions, handled, type ConnectionFlags } from "./client.ts";
import { printDetails, printJson, printSecretNotice, shortTime, yesNo } from "./output.ts";
import { outputOption } from "./store-options.ts";
import { AdminPassword, AdminView } from "../api-contract/identities.ts";

const client = (flags: ConnectionFlags) => connect(flags, process.env, homedir());
const SEE_ALSO = "Server and credentials: --server/-u/-p, BERTH_SERVER/BERTH_USERNAME/BERTH_PASSWORD, or a stored login (`berth login`).";

function printAdmin(state: AdminView): void {
  printDetails([
    ["user", "admin"],
    ["enabled", yesNo(state.enabled)],
    ...state.passwords.map((p) => [`password${p.slot}`, `set ${shortTime(p.created)}`.trim()] as const),
  ]);
}

const showCommand = connectionOptions(
  new Command("show").description("show whether the admin user may sign in, and when its passwords were set").addOption(outputOption()),
)
  .addHelpText("after", `\nExample:\n  berth admin show --server http://localhost:5000 -u admin --password-stdin < pw.txt\n\n${SEE_ALSO}`)
  .action(
    handled(async (options) => {
      const state = await (await client(options)).json(AdminView, "GET", ["api", "v1", "admin"]);
      return options.output === "json" ? printJson(state) : printAdmin(state);
    }),
  );

function switchCommand(name: "enable" | "disable", enabled: boolean) {
  return connectionOptions(
    new Command(name)
      .description(enabled ? "let the admin user sign in again" : "refuse the admin user's sign-ins (its passwords are kept); other owners still manage Berth")
      .addOption(outputOption()),
  )
    .addHelpText(
      "after",
      `\nExample:\n  berth admin ${name} --server http://localhost:5000 -u ops --password-stdin < pw.txt${enabled ? "" : "\n\nSign in as another owner (a user or service principal with --role owner) first, or you lock yourself out."}\n\n${SEE_ALSO}`,
    )
    .action(
      handled(async (options) => {
        const state = await (await client(options)).json(AdminView, "PATCH", ["api", "v1", "admin"], { json: { enabled } });
        return options.output === "json" ? printJson(state) : printAdmin(state);
      }),
    );
}

const rotateCommand = connectionOptions(
  new Command("rotate-password")
    .description("replace one of the admin user's two passwords with a new generated one, printed once")
    .addArgument(new Argument("<slot>", "which password: 1 or 2").argParser(optionParser(parseSlot)))
    .addOption(outputOption()),
)
  .addHelpText(
    "after",
    `
Rotate the password nobody uses, switch clients to it, then rotate the other:
  berth admin rotate-password 2 --server http://localhost:5000 -u admin -p "$OLD"
  berth admin rotate-password 1 -o json      # {"slot": 1, "password": "..."}

${SEE_ALSO}`,
  )
  .action(
    handled(async (slot, options) => {
      const rotated = await (await client(options)).json(AdminPassword, "POST", ["api", "v1", "admin", "passwords", String(slot)]);
      if (options.output === "json") return printJson(rotated);
      printDetails([
        ["user", "admin"],
        [`password${rotated.slot}`, rotated.password],
      ]);
      printSecretNotice(`Sign in as admin with password${rotated.slot}; the old password${rotated.slot} no longer works.`);
    }),
  );

export const adminCommand = new Command("admin")
  .description("the built-in admin user: show, enable, disable, rotate its two passwords (like az acr update --admin-enabled)")
  .addCommand(showCommand)
  .addCommand(switchCommand("enable", true))
  .addCommand(switchCommand("disable", false))
  .addCommand(rotateCommand);
