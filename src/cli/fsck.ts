// `berth fsck`: re-hashes every blob in use and checks every link and manifest reference.
// Exit code 0: clean; 1: problems found (listed).
import { Command } from "@commander-js/extra-typings";
import { openStores } from "../app.ts";
import { checkIntegrity } from "../services/fsck.ts";
import { humanSize } from "./output.ts";
import { configFrom, configOption, dataOption, outputOption } from "./store-options.ts";

// Each step is what Berth does on a push: a pushed blob replaces whatever file sits at its
// digest's path and is linked again, so pushing again repairs what fsck reports.
const REPAIR = `To repair: push the broken images again (or just the blobs named), then run 'berth fsck' again.
  A push replaces a missing or corrupt blob file and links the blob in the repository again.
  A client that asks HEAD first skips a blob whose file is present, even if corrupt: delete that
  blob from the repository first (DELETE /v2/<repository>/blobs/<digest>), or push it with one
  POST /v2/<repository>/blobs/uploads/?digest=<digest>. What no one can push again: restore it
  from a backup.
`;

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
        process.stdout.write(report.problems.length === 0 ? "no problems found\n" : `${report.problems.length} problems found.\n${REPAIR}`);
      }
      process.exitCode = report.problems.length === 0 ? 0 : 1;
    } finally {
      await stores.close();
    }
  });
