// The README's walk-through (test/support/helm-seed.ts) with Helm 3 and Helm 4 against one Berth.
import { test } from "node:test";
import { berthFor, helmClient, HELM_VERSIONS } from "../support/helm.ts";
import { seedWalkThrough } from "../support/helm-seed.ts";

for (const version of HELM_VERSIONS) {
  const name = version === "v3" ? "helm3" : "helm4";
  test(`${name} walks through the seed: classic and OCI pushes of helm-test-chart-v2/v3 in search repo and chart list`, { timeout: 120_000 }, async (t) => {
    const helm = await helmClient(t, version);
    if (!helm) return;
    await seedWalkThrough(helm, await berthFor(t));
  });
}
