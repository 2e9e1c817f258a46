// `berth fsck`: re-hashes every blob in use and checks every link and manifest reference.
// Exit code 0: clean; 1: problems found (listed).
import { Command } from "@commander-js/extra-typings";
import { openStores } from "../app.ts";
import { checkIntegrity } from "../services/fsck.ts";
import { humanSize } from "./output.ts";
import { configFrom, configOption, dataOption, outputOption } from "./store-options.ts";

export const fsckCommand = new Command("fsck")
  .description("verify every blob, link and manifest reference; exit 1 when something is wrong")
  .addOption(configOption())
  .addOption(dataOption())
  .addOption(outputOption())
  .action(async (options) => {
    const config = configFrom(options);
    const stores = await openStores(config);
    try {
      const report = await checkIntegrity(stores.metadata, stores.blobs);
      if (options.output === "json") {
        process.stdout.write(JSON.stringify({ ...report, clean: report.problems.length === 0 }, null, 2) + "\n");
      } else {
        process.stdout.write(
          `checked ${report.blobsChecked} blobs (${humanSize(report.bytesChecked)}), ${report.linksChecked} links, ${report.manifestsChecked} manifests\n`,
        );
        for (const p of report.problems) process.stdout.write(`  ${p.kind.padEnd(18)} ${p.subject}  ${p.detail}\n`);
        process.stdout.write(report.problems.length === 0 ? "no problems found\n" : `${report.problems.length} problems found: run 'berth gc' for leftovers, restore missing blobs from a backup or push them again\n`);
      }
      process.exitCode = report.problems.length === 0 ? 0 : 1;
    } finally {
      await stores.close();
    }
  });
