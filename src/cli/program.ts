// The `berth` command and its subcommands.
import { Command } from "@commander-js/extra-typings";
import { chartCommand } from "./chart.ts";
import { fsckCommand } from "./fsck.ts";
import { gcCommand } from "./gc.ts";
import { helmCommand } from "./helm.ts";
import { serveCommand } from "./serve.ts";

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
  .addCommand(chartCommand);
