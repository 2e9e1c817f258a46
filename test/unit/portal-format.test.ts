// How the portal writes sizes and durations (portal/src/format.ts): a quota's limit is prefilled
// as it can be typed back without changing it, and soft delete's window reads as people say it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSize } from "../../src/domain/quotas.ts";
import { bytes, duration, exactSize } from "../../portal/src/format.ts";

test("exactSize: a limit typed back as prefilled is the same number of bytes", () => {
  for (const n of [1, 100, 1023, 1024, 1536, 10 * 1024 ** 2, 1024 ** 3, 5 * 1024 ** 4, 1024 ** 3 + 1, 10 ** 9]) {
    assert.equal(parseSize(exactSize(n)), n, `${n} → ${exactSize(n)}`);
  }
  assert.equal(exactSize(1024 ** 3), "1GiB");
  assert.equal(exactSize(1536), "1536", "not a whole number of KiB: bytes");
});

test("duration: the largest whole unit", () => {
  assert.deepEqual([86400, 604800, 3600, 5400, 90, 1, 0].map(duration), ["1 day", "7 days", "1 hour", "90 minutes", "90 seconds", "1 second", "0 seconds"]);
});

test("bytes: sizes as people read them", () => {
  assert.deepEqual([100, 1024, 6001186, 1024 ** 3].map(bytes), ["100 B", "1.0 KiB", "5.7 MiB", "1.0 GiB"]);
});
