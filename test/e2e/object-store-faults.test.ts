// A blob store that refuses Berth (a wrong account key or secret, a container or bucket removed
// under a running registry) is the registry's fault, not the client's: every push and pull
// answers 500 with the spec's UNKNOWN body and the generic message, and the failure is logged
// at error level for the operator. Found by attack: Azure's RestError carries a `statusCode`
// (403 AuthenticationFailed, 404 ContainerNotFound), which the error handler took for a
// refusal of the request itself: clients got 405 UNSUPPORTED with the storage service's own
// words (its request id and time) and nothing was logged, so an operator saw a silent registry.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { logBarrier } from "../support/access-log.ts";
import { startBerth } from "../support/berth.ts";
import { missingStore } from "../support/object-stores.ts";
import { OciClient, sha256 } from "../support/oci-client.ts";
import { startStoreBackend } from "../support/store-cluster.ts";

/** The settings of a store with the credential spoiled. */
const wrongCredential = {
  s3: (env: Record<string, string>) => ({ ...env, BERTH_STORAGE_S3_SECRET_ACCESS_KEY: "not-the-secret" }),
  // A well-formed key (base64 of 64 bytes), just not the account's.
  azure: (env: Record<string, string>) => ({ ...env, BERTH_STORAGE_AZURE_CONNECTION_STRING: env.BERTH_STORAGE_AZURE_CONNECTION_STRING!.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.alloc(64, 7).toString("base64")}`) }),
};

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  test(`berth on ${kind} with a wrong storage credential: pushes and pulls answer 500 UNKNOWN (not a 4xx carrying the store's words), and each failure is logged as an error`, { timeout: 120_000, skip: missing ?? false }, async (t) => {
    const backend = await startStoreBackend(kind);
    const berth = await startBerth({ env: { ...wrongCredential[kind](backend.env), BERTH_LOG_LEVEL: "info" } }).catch(async (err: unknown) => {
      await backend.stop();
      throw err;
    });
    t.after(async () => {
      await berth.dispose();
      await backend.stop();
    });
    const client = new OciClient({ baseUrl: berth.url, authorization: berth.basicAuth });
    const data = randomBytes(3000);
    const attempts: { what: string; res: Response }[] = [];
    const upload = await client.startUpload("team/faults");
    attempts.push({ what: "PUT monolithic", res: await client.raw("PUT", `${upload.location}?digest=${sha256(data)}`, { headers: { "content-type": "application/octet-stream" }, body: data }) });
    const chunked = await client.startUpload("team/faults");
    attempts.push({ what: "PATCH", res: await client.raw("PATCH", chunked.location, { headers: { "content-type": "application/octet-stream", "content-range": `0-${data.length - 1}` }, body: data }) });
    attempts.push({ what: "POST ?digest=", res: await client.raw("POST", `/v2/team/faults/blobs/uploads/?digest=${sha256(data)}`, { headers: { "content-type": "application/octet-stream" }, body: data }) });
    for (const { what, res } of attempts) {
      const body = await res.text();
      assert.equal(res.status, 500, `${what}: ${res.status} ${body}`);
      assert.deepEqual(JSON.parse(body), { errors: [{ code: "UNKNOWN", message: "internal error", detail: null }] }, what);
    }
    await logBarrier(berth);
    const failures = berth.output().split("\n").filter((line) => line.includes('"unexpected failure"') && line.includes('"level":50'));
    assert.ok(failures.length >= attempts.length, `${failures.length} failures logged at error level for ${attempts.length} failed requests:\n${berth.output().slice(-3000)}`);
  });
}
