// `berth gc`: mark and sweep unreferenced blobs; safe while the server runs.
import { Command, Option } from "@commander-js/extra-typings";
import { openStores } from "../app.ts";
import { collectGarbage } from "../services/gc.ts";
import { humanSize } from "./output.ts";
import { configFrom, configOption, dataOption, outputOption } from "./store-options.ts";

export const gcCommand = new Command("gc")
  .description("delete blobs no manifest or repository uses any more (safe while the server serves)")
  .addOption(configOption())
  .addOption(dataOption())
  .addOption(new Option("--dry-run", "only report what would be deleted"))
  .addOption(new Option("--grace-period <seconds>", "keep unreferenced blobs younger than this (gc.gracePeriod) [default: 3600]"))
  .addOption(outputOption())
  .action(async (options) => {
    const config = configFrom(options, { "gc.gracePeriod": options.gracePeriod });
    const stores = await openStores(config);
    try {
      const report = await collectGarbage(stores.metadata, stores.blobs, {
        gracePeriodSeconds: config.gc.gracePeriod,
        uploadExpirySeconds: config.uploads.expireAfter,
        dryRun: options.dryRun === true,
      });
      if (options.output === "json") {
        process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      } else {
        const verb = report.dryRun ? "would delete" : "deleted";
        process.stdout.write(
          `${verb} ${report.blobsDeleted} blobs (${humanSize(report.bytesFreed)}), ${report.orphanFilesDeleted} orphaned files, ${report.uploadsPurged} expired uploads; ${report.linksRemoved} unused links removed` +
            (report.deletedPurged > 0 ? `; ${report.deletedPurged} deleted tags or manifests past their restore window ${report.dryRun ? "would be " : ""}forgotten` : "") +
            (report.orphanFilesWaiting > 0 ? `; ${report.orphanFilesWaiting} orphaned files left for a later run (deleted once seen unchanged for the grace period)` : "") +
            "\n",
        );
      }
    } finally {
      await stores.close();
    }
  });
