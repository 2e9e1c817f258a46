// Real clients against a spawned Berth, admin credentials, plain HTTP on 127.0.0.1: oras,
// skopeo, crane, regctl (installed by scripts/install-tools.sh). The scenarios are in
// test/support/client-scenarios.ts, shared with the run through two instances on S3 and Azure.
import { test } from "node:test";
import { clientSandbox, craneScenario, orasScenario, regctlScenario, skopeoScenario } from "../support/client-scenarios.ts";
import { startTarget } from "../support/registry-target.ts";
import { requireTool } from "../support/tools.ts";

const scenarios = { oras: orasScenario, skopeo: skopeoScenario, crane: craneScenario, regctl: regctlScenario };
const titles: Record<keyof typeof scenarios, string> = {
  oras: "oras pushes an artifact with annotations, pulls it back byte for byte, attaches and discovers a referrer",
  skopeo: "skopeo copies a two-platform OCI layout in and out unchanged, inspects, lists tags and deletes",
  crane: "crane copies between repositories and reads back manifest, config, tags and digest",
  regctl: "regctl logs in, copies an OCI layout in and between repositories, lists tags",
};

for (const [tool, scenario] of Object.entries(scenarios) as [keyof typeof scenarios, (bin: string, s: Awaited<ReturnType<typeof clientSandbox>>) => Promise<void>][]) {
  test(titles[tool], { timeout: 90_000 }, async (t) => {
    const bin = requireTool(t, tool);
    if (!bin) return;
    const target = await startTarget();
    t.after(() => target.dispose());
    await scenario(bin, await clientSandbox(t, target));
  });
}
