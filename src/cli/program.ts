// The `berth` command and its subcommands.
import { Command } from "@commander-js/extra-typings";
import { fsckCommand } from "./fsck.ts";
import { gcCommand } from "./gc.ts";
import { serveCommand } from "./serve.ts";

export const program = new Command("berth")
  .description("Berth: a registry for container images and Helm charts")
  .version("0.1.0")
  .showHelpAfterError()
  .addCommand(serveCommand)
  .addCommand(gcCommand)
  .addCommand(fsckCommand);
