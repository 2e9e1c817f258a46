// The blob driver contract (blob-driver-contract.ts) on AzureBlobDriver against Azurite, Azure
// Blob's emulator from node_modules, started for this file over a throwaway directory. Each test
// gets its own key prefix in one container (redirects on), or a container of its own without a
// prefix (reads through Berth), once from a connection string and once from account + key.
import { after, before, describe } from "node:test";
import { AzureBlobDriver, type AzureBlobDriverOptions } from "../../src/blobs/drivers/azure-blob.ts";
import { startAzurite, type RunningAzurite } from "../support/object-stores.ts";
import { blobDriverContract } from "./blob-driver-contract.ts";

describe("AzureBlobDriver on Azurite", () => {
  let azurite: RunningAzurite;
  let container: string;
  let serial = 0;
  before(async () => {
    azurite = await startAzurite();
    container = await azurite.container();
  });
  after(() => azurite?.stop());

  function azureFactory(options: () => Promise<AzureBlobDriverOptions>) {
    return async () => {
      const opts = await options();
      return {
        driver: new AzureBlobDriver(opts),
        reopen: async () => new AzureBlobDriver(opts),
        close: async () => undefined, // the container goes with Azurite's directory
        redirects: opts.redirect === true,
      };
    };
  }

  blobDriverContract("azure, key prefix, redirects", azureFactory(async () => ({ connectionString: azurite.connectionString, container, prefix: `t${++serial}/registry`, redirect: true })), { createOnly: true });
  blobDriverContract(
    "azure, account + key, a container of its own",
    azureFactory(async () => ({ accountName: azurite.accountName, accountKey: azurite.accountKey, endpoint: azurite.connectionString.match(/BlobEndpoint=([^;]+)/)![1]!, container: await azurite.container() })),
    { createOnly: true },
  );
});
