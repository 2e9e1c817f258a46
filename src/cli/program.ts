// The `berth` command and its subcommands.
import { Command } from "@commander-js/extra-typings";
import { adminCommand } from "./admin.ts";
import { auditCommand } from "./audit.ts";
import { chartCommand } from "./chart.ts";
import { fsckCommand } from "./fsck.ts";
import { gcCommand } from "./gc.ts";
import { helmCommand } from "./helm.ts";
import { inspectCommand } from "./inspect.ts";
import { loginCommand, logoutCommand } from "./login.ts";
import { metadataCommand } from "./metadata.ts";
import { repositoryCommand } from "./repositories.ts";
import { scopeMapCommand } from "./scope-maps.ts";
import { tagRuleCommand } from "./tag-rules.ts";
import { quotaCommand } from "./quotas.ts";
import { retentionCommand } from "./retention.ts";
import { eventCommand, webhookCommand } from "./webhooks.ts";
import { searchCommand } from "./search.ts";
import { serveCommand } from "./serve.ts";
import { servicePrincipalCommand } from "./service-principals.ts";
import { tokenCommand } from "./tokens.ts";
import { userCommand } from "./users.ts";

export const program = new Command("berth")
  .description("Berth: a registry for container images and Helm charts")
  .version("0.1.0")
  .showHelpAfterError()
  // Subcommands own their options: `helm show x --version 1` must not print Berth's version.
  .enablePositionalOptions()
  .addCommand(serveCommand)
  .addCommand(gcCommand)
  .addCommand(fsckCommand)
  .addCommand(helmCommand)
  .addCommand(chartCommand)
  .addCommand(loginCommand)
  .addCommand(logoutCommand)
  .addCommand(adminCommand)
  .addCommand(userCommand)
  .addCommand(servicePrincipalCommand)
  .addCommand(scopeMapCommand)
  .addCommand(tokenCommand)
  .addCommand(tagRuleCommand)
  .addCommand(quotaCommand)
  .addCommand(retentionCommand)
  .addCommand(repositoryCommand)
  .addCommand(auditCommand)
  .addCommand(inspectCommand)
  .addCommand(searchCommand)
  .addCommand(metadataCommand)
  .addCommand(webhookCommand)
  .addCommand(eventCommand);
