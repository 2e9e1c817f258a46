// Process entry: argv → a CLI command. Only serve, gc and fsck open the stores.
import { program } from "./cli/program.ts";

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`berth: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
