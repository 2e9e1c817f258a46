import assert from "node:assert/strict";
import { test } from "node:test";
import { parseImageReference } from "../../src/cli/image-reference.ts";
import { goJson } from "../../src/cli/inspect.ts";
import { forgeRepository, originOf } from "../../src/services/provenance/origin.ts";
import { statementFacts } from "../../src/services/provenance/statements.ts";
import { slsaV02, slsaV1, spdx } from "../support/provenance-images.ts";

const subject = `sha256:${"c".repeat(64)}`;
const layer = { digest: `sha256:${"d".repeat(64)}` as never, size: 100 };

test("goJson prints labels as docker's {{json .Config.Labels}}: sorted keys, Go's HTML escaping, null when none", () => {
  assert.equal(goJson({ "build.user": "octocat", "a.b": "x<y>&z" }), '{"a.b":"x\\u003cy\\u003e\\u0026z","build.user":"octocat"}');
  assert.equal(goJson({}), "null");
});

test("parseImageReference: docker's host rule, tags, digests, and refusals", () => {
  assert.deepEqual(parseImageReference("localhost:5000/team/app:v1"), { host: "localhost:5000", repository: "team/app", reference: "v1", kind: "tag" });
  assert.deepEqual(parseImageReference("berth.example.com/team/app@sha256:" + "a".repeat(64)), { host: "berth.example.com", repository: "team/app", reference: "sha256:" + "a".repeat(64), kind: "digest" });
  assert.deepEqual(parseImageReference("team/app"), { repository: "team/app", kind: "none" });
  assert.deepEqual(parseImageReference("localhost/app"), { host: "localhost", repository: "app", kind: "none" });
  assert.throws(() => parseImageReference("Team/App:v1"), /not a repository name/);
  assert.throws(() => parseImageReference("team/app@nothex"), /after @ comes a digest/);
});

test("statementFacts: SLSA v0.2 and v1 normalised to one shape; SPDX counted; an unread layer keeps its annotated type", () => {
  const v02 = statementFacts(layer, slsaV02(subject, "linux/amd64"));
  const v1 = statementFacts(layer, slsaV1(subject, "linux/arm64"));
  assert.equal(v02.statementType, "https://in-toto.io/Statement/v0.1");
  assert.equal(v1.statementType, "https://in-toto.io/Statement/v1");
  assert.deepEqual(v02.subjects, [{ name: "pkg:docker/example/app@v1?platform=linux%2Famd64", digest: subject }]);
  for (const [facts, version] of [[v02, "v0.2"], [v1, "v1"]] as const) {
    assert.equal(facts.slsa!.version, version);
    assert.match(facts.slsa!.builderId!, /^https:\/\/github\.com\/example\/berth-seed\/actions\/runs\/4[23]$/);
    assert.equal(facts.slsa!.configSource!.uri, "https://github.com/example/berth-seed.git#refs/heads/main");
    assert.equal(facts.slsa!.configSource!.path, "Dockerfile");
    assert.deepEqual(facts.slsa!.buildArgs, { IMAGE_COMMITTER: "octocat" });
    assert.equal(facts.slsa!.materials.length, 1);
  }
  assert.deepEqual(statementFacts(layer, spdx(subject)).sbom, { format: "spdx-json", specVersion: "SPDX-2.3", packageCount: 3, generator: "Tool: syft-v1.0.0" });
  const unread = statementFacts({ ...layer, annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v1" } }, null);
  assert.deepEqual([unread.read, unread.predicateType, unread.slsa], [false, "https://slsa.dev/provenance/v1", undefined]);
  assert.equal(statementFacts(layer, { predicateType: "https://slsa.dev/provenance/v1", predicate: { runDetails: { builder: { id: { nested: "object" } } } } }).slsa!.builderId, undefined);
});

test("originOf: labels before annotations, commit and Dockerfile links for a GitHub source, claimed provenance last", () => {
  assert.equal(forgeRepository("https://github.com/example/app.git#refs/heads/main"), "https://github.com/example/app");
  assert.equal(forgeRepository("git@github.com:example/app.git"), "https://github.com/example/app");
  assert.equal(forgeRepository("https://example.com/app"), undefined);
  const origin = originOf(
    { "build.sha": "0123456789abcdef", "build.dockerfile": "docker/Dockerfile", "build.user": "octocat", "org.label-schema.vcs-url": "https://github.com/example/app" },
    { "org.opencontainers.image.version": "1.2.3" },
    {},
    undefined,
  );
  assert.equal(origin.source!.key, "org.label-schema.vcs-url");
  assert.equal(origin.revision!.link, "https://github.com/example/app/commit/0123456789abcdef");
  assert.equal(origin.dockerfile!.link, "https://github.com/example/app/blob/0123456789abcdef/docker/Dockerfile");
  assert.equal(origin.committer!.value, "octocat");
  assert.equal(origin.version!.from, "annotation:manifest");
  const claimed = originOf({}, {}, {}, { version: "v1", materials: [], vcs: { source: "https://github.com/example/app", revision: "abcdef0" } });
  assert.equal(claimed.source!.from, "provenance (claimed by builder)");
  assert.equal(claimed.revision!.value, "abcdef0");
});
