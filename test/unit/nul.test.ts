import assert from "node:assert/strict";
import { test } from "node:test";
import { holdsNul } from "../../src/domain/nul.ts";

test("holdsNul: finds NUL in strings, keys and nested values; ignores buffers", () => {
  assert.equal(holdsNul("a\u0000b"), true);
  assert.equal(holdsNul({ ["k\u0000"]: 1 }), true);
  assert.equal(holdsNul({ a: [1, { b: ["x", "y\u0000"] }] }), true);
  assert.equal(holdsNul({ a: [1, { b: ["x", "y"] }], c: null }), false);
  assert.equal(holdsNul(Buffer.from("\u0000")), false);
});

test("holdsNul: a body of 100,000 nested arrays is walked without overflowing the stack (was a 500 before sign-in)", () => {
  const depth = 100_000;
  const deep = JSON.parse("[".repeat(depth) + '"\\u0000"' + "]".repeat(depth)) as unknown;
  assert.equal(holdsNul(deep), true);
  const clean = JSON.parse("[".repeat(depth) + "]".repeat(depth)) as unknown;
  assert.equal(holdsNul(clean), false);
});
