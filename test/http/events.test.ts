// GET /api/v1/events with filters: the query selects the events, so a page holds `limit` of the
// asked action and repository however few of them the log holds among the rest, and paging in
// either order gives each once (the store's side: test/contract/metadata-contract-changes.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { AUTH, freshApp, type TestApp } from "../support/app.ts";
import { OciClient, OCI_MANIFEST, sha256 } from "../support/oci-client.ts";
import { buildImage, pushImage, randomLayer, testBlob } from "../support/oci-images.ts";

interface Page {
  events: { id: number; action: string; target: { repository?: string; tag?: string; subject?: string } }[];
  next: number;
}

async function page(app: TestApp, query: string): Promise<Page> {
  const res = await app.request("GET", `/api/v1/events?${query}`);
  assert.equal(res.status, 200, res.body.toString());
  return res.json();
}

/** Every page of a query, both ways, as the API's cursors lead: oldest first by after=, newest first by before=. */
async function walk(app: TestApp, query: string, limit: number, newest: boolean): Promise<Page["events"][]> {
  const pages: Page["events"][] = [];
  let cursor = 0;
  for (;;) {
    const cursorQuery = newest ? `order=newest${cursor ? `&before=${cursor}` : ""}` : `after=${cursor}`;
    const got = await page(app, `${query}&limit=${limit}&${cursorQuery}`);
    pages.push(got.events);
    if (newest ? got.next === 0 : got.events.length < limit) return pages;
    cursor = got.next;
    assert.ok(pages.length < 100, "the walk ends");
  }
}

test("a filtered page holds `limit` events of the action and repository, however far back they are; paging gives each once in both orders", async (t) => {
  const app = await freshApp(t);
  const client = new OciClient({ baseUrl: (await app.listen()).href, authorization: AUTH });
  // Early: a referrer in team/app and a push in team/other; then 24 pushes of team/app.
  const image = buildImage([randomLayer(50)], "subject");
  await pushImage(client, "team/app", "subject", image);
  const empty = testBlob(Buffer.from("{}"), "application/vnd.oci.empty.v1+json");
  await client.pushBlob("team/app", empty.data);
  const referrer = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sig",
    config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.data.length },
    layers: [{ mediaType: empty.mediaType, digest: empty.digest, size: empty.data.length }],
    subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length },
  }));
  await client.putManifest("team/app", sha256(referrer), referrer, OCI_MANIFEST);
  await pushImage(client, "team/other", "only", buildImage([randomLayer(50)], "other"));
  for (let n = 0; n < 24; n++) await client.putManifest("team/app", `v${n}`, image.manifest, OCI_MANIFEST);

  // The newest few entries of the log are all team/app pushes: the filter reaches past them.
  const referrers = await page(app, "order=newest&limit=3&action=referrer");
  assert.deepEqual(referrers.events.map((e) => [e.action, e.target.subject]), [["referrer", image.digest]]);
  assert.equal(referrers.next, 0, "nothing older");
  const other = await page(app, "order=newest&limit=2&repository=team/other");
  assert.deepEqual(other.events.map((e) => [e.action, e.target.repository, e.target.tag]), [["push", "team/other", "only"]]);
  const oldestOther = await page(app, "limit=2&repository=team/other");
  assert.deepEqual(oldestOther.events.map((e) => e.id), other.events.map((e) => e.id));
  assert.equal(oldestOther.next, other.events[0]!.id, "oldest first, next is the last event's id");
  assert.deepEqual((await page(app, `limit=2&repository=team/other&after=${oldestOther.next}`)).events, [], "and nothing follows it");

  const everything = (await page(app, "limit=1000")).events;
  for (const [query, expected] of [
    ["action=push", everything.filter((e) => e.action === "push")],
    ["action=push&repository=team/app", everything.filter((e) => e.action === "push" && e.target.repository === "team/app")],
    ["repository=team/app", everything.filter((e) => e.target.repository === "team/app")],
  ] as const) {
    assert.ok(expected.length > 20, query);
    for (const newest of [false, true]) {
      const pages = await walk(app, query, 5, newest);
      assert.deepEqual(pages.flat().map((e) => e.id), expected.map((e) => e.id)[newest ? "toReversed" : "slice"](), `${query}, ${newest ? "newest" : "oldest"} first: each once, in order`);
      assert.ok(pages.slice(0, -1).every((p) => p.length === 5), `${query}: every page but the last is full`);
    }
  }
  assert.equal((await app.request("GET", "/api/v1/events?action=pull")).status, 400, "an unknown action");
});
