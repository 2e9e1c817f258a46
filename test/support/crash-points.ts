// What the crash tests share: request bodies that trickle out so a kill -9 lands while bytes are
// still flowing, and the check that an upload interrupted by a crash is either resumable from the
// Range the registry reports or cleanly unknown (BLOB_UPLOAD_UNKNOWN), never something between.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { OciClient, OciError, sha256, type Upload } from "./oci-client.ts";

export interface Trickle {
  body: Readable;
  /** Bytes handed to the HTTP client so far (the server holds at most this many). */
  sent(): number;
  /** Resolves once at least `bytes` have been handed over. */
  reached(bytes: number): Promise<void>;
}

/** A body that yields `piece` bytes every `everyMs`, so a test can kill the server mid-stream. */
export function trickle(data: Uint8Array, piece: number, everyMs: number): Trickle {
  let sent = 0;
  const waiters: { bytes: number; ok: () => void }[] = [];
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let start = 0; start < data.length; start += piece) {
      const chunk = data.subarray(start, start + piece);
      yield chunk;
      sent += chunk.length;
      for (const w of waiters.filter((w) => sent >= w.bytes)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.ok();
      }
      await sleep(everyMs);
    }
  }
  return {
    body: Readable.from(pieces(), { objectMode: false }),
    sent: () => sent,
    reached: (bytes) => (sent >= bytes ? Promise.resolve() : new Promise<void>((ok) => waiters.push({ bytes, ok }))),
  };
}

/** Settles a promise into a value, so a request cut by a kill never becomes an unhandled rejection. */
export function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}

export interface InterruptedUpload {
  repo: string;
  /** The upload URL from before the crash. */
  location: string;
  /** The whole blob the client meant to push. */
  data: Buffer;
  /** Bytes the registry acknowledged (202) before the crash: a 204 must report at least these. */
  acknowledged: number;
  /** Bytes the client handed over before the crash: a 204 cannot report more. */
  sent: number;
}

/**
 * After a restart: GET <location> must answer either 204 with a Range inside
 * [acknowledged, sent], from which the upload finishes and the blob reads back byte for byte, or
 * 404 BLOB_UPLOAD_UNKNOWN, after which PATCH and PUT on it are 404 too and a fresh push works.
 */
export async function resumeOrRestart(client: OciClient, u: InterruptedUpload, chunkSize = 4 * 1024 * 1024): Promise<"resumed" | "unknown"> {
  const digest = sha256(u.data);
  let status: Upload;
  try {
    status = await client.uploadStatus(u.location);
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    assert.equal(error.status, 404, `GET upload after the crash: ${error.message}`);
    assert.deepEqual(error.codes, ["BLOB_UPLOAD_UNKNOWN"], `GET upload after the crash: ${error.body}`);
    await assertUploadGone(client, u.location, digest);
    assert.equal(await client.pushBlob(u.repo, u.data, { mode: "chunked", chunkSize }), digest);
    assert.ok((await client.getBlob(u.repo, digest)).equals(u.data), "the blob pushed again reads back differently");
    return "unknown";
  }
  assert.match(status.range ?? "", /^0-\d+$/, `GET upload → 204 needs a Range "0-<last>", got ${status.range}`);
  const held = status.range === "0-0" ? "0 or 1" : String(status.offset);
  assert.ok(status.offset <= u.sent, `GET upload → 204 Range ${status.range}: more than the ${u.sent} bytes sent`);
  assert.ok(
    status.range === "0-0" ? u.acknowledged <= 1 : status.offset >= u.acknowledged,
    `GET upload → 204 Range ${status.range} (${held} bytes) lost acknowledged bytes: PATCH had 202 for 0-${u.acknowledged - 1}`,
  );
  let upload = status;
  if (status.range === "0-0") upload = await patchAtZeroOrOne(client, status, u.data);
  for (let start = upload.offset; start < u.data.length; start += chunkSize) {
    upload = await client.patchChunk(upload, u.data.subarray(start, Math.min(start + chunkSize, u.data.length)));
    assert.equal(upload.offset, Math.min(start + chunkSize, u.data.length), `PATCH after resume: Range ${upload.range}`);
  }
  await client.finishUpload(upload, digest);
  const back = await client.getBlob(u.repo, digest);
  assert.ok(back.equals(u.data), `the resumed blob reads back as ${back.length} different bytes`);
  return "resumed";
}

/** "0-0" means 0 or 1 byte held: the PATCH at the wrong one answers 416, so try both. */
async function patchAtZeroOrOne(client: OciClient, status: Upload, data: Buffer): Promise<Upload> {
  try {
    return await client.patchChunk({ ...status, offset: 0 }, data.subarray(0, 1));
  } catch (error) {
    if (!(error instanceof OciError) || error.status !== 416) throw error;
    return { ...status, offset: 1 };
  }
}

/** An unknown upload stays unknown for every method, and its digest was never published. */
export async function assertUploadGone(client: OciClient, location: string, digest: string): Promise<void> {
  const patch = await client.raw("PATCH", location, {
    headers: { "content-type": "application/octet-stream", "content-range": "0-0" },
    body: new Uint8Array(1),
  });
  const patchBody = await patch.text();
  assert.equal(patch.status, 404, `PATCH on an upload GET calls unknown → ${patch.status} ${patchBody}`);
  const put = await client.raw("PUT", `${location}${location.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`, { body: new Uint8Array(0) });
  const putBody = await put.text();
  assert.equal(put.status, 404, `PUT on an upload GET calls unknown → ${put.status} ${putBody}`);
}

/** HEAD of the digest: a blob whose push never finished must not be visible. */
export async function assertNoBlob(client: OciClient, repo: string, digest: string, why: string): Promise<void> {
  const head = await client.headBlob(repo, digest);
  assert.equal(head, null, `HEAD /v2/${repo}/blobs/${digest} → 200 (${head?.size} bytes) ${why}`);
  const get = await client.raw("GET", `/v2/${repo}/blobs/${digest}`);
  const body = await get.text();
  assert.equal(get.status, 404, `GET /v2/${repo}/blobs/${digest} → ${get.status} ${body.slice(0, 200)} ${why}`);
}
