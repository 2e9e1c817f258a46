// Issue 16's real-client scenarios through a round-robin balancer in front of two Berth instances,
// on S3 (versitygw) + PostgreSQL and on Azure Blob (Azurite) + PostgreSQL: every request (an
// upload's PATCHes included) goes to the other instance than the one before. The same scenarios
// as against one Berth (test/support/client-scenarios.ts, test/support/helm-seed.ts): oras (push,
// pull, attach, discover), skopeo (a two-platform index in and out, delete), crane (copy, platform
// digests), regctl (copy, tags), and helm v3 and v4 both ways (classic pushes and OCI pushes, found
// by `helm search repo`, pulled byte-identical, listed by `berth chart list`).
import { test } from "node:test";
import { clientSandbox, craneScenario, orasScenario, regctlScenario, skopeoScenario } from "../support/client-scenarios.ts";
import { helmClient, HELM_VERSIONS } from "../support/helm.ts";
import { seedWalkThrough } from "../support/helm-seed.ts";
import { missingStore } from "../support/object-stores.ts";
import { startObjectStorePair } from "../support/registry-target.ts";
import { requireTool } from "../support/tools.ts";

const scenarios = { oras: orasScenario, skopeo: skopeoScenario, crane: craneScenario, regctl: regctlScenario };

for (const kind of ["s3", "azure"] as const) {
  const missing = missingStore(kind);
  if (missing && process.env.CI === "true") throw new Error(missing);
  const on = kind === "s3" ? "S3 (versitygw) + PostgreSQL" : "Azure Blob (Azurite) + PostgreSQL";

  test(`oras, skopeo, crane and regctl through a round-robin over two instances on ${on}`, { timeout: 600_000, skip: missing ?? false }, async (t) => {
    const tools = Object.fromEntries(Object.keys(scenarios).map((tool) => [tool, requireTool(t, tool)]));
    if (Object.values(tools).some((bin) => !bin)) return;
    const target = await startObjectStorePair(kind);
    t.after(() => target.dispose());
    for (const [tool, scenario] of Object.entries(scenarios)) {
      await t.test(tool, async (st) => scenario(tools[tool]!, await clientSandbox(st, target)));
    }
  });

  for (const version of HELM_VERSIONS) {
    const name = version === "v3" ? "helm3" : "helm4";
    test(`${name} both ways through a round-robin over two instances on ${on}: classic and OCI pushes in search repo, pulled byte-identical, in chart list`, { timeout: 600_000, skip: missing ?? false }, async (t) => {
      const helm = await helmClient(t, version);
      if (!helm) return;
      const target = await startObjectStorePair(kind);
      t.after(() => target.dispose());
      await seedWalkThrough(helm, target);
    });
  }
}
