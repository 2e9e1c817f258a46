// The commands to copy for one chart version, for each way it is stored: `helm repo add` +
// `helm repo update` + `helm install` from the classic repository, `helm pull oci://` + `helm
// install oci://`. Used by the chart page and by a chart repository's tags.
import type { ChartDetail, StoredChart } from "../../src/api-contract/charts.ts";
import { Command } from "./components.tsx";

export function ChartCommands({ chart, version, storedAs }: { chart: Pick<ChartDetail, "repository" | "namespace" | "name" | "classicRepository">; version: string; storedAs: StoredChart["storedAs"] }) {
  const alias = chart.namespace.split("/").pop() || "berth";
  const at = `${location.host}/${chart.repository}`;
  return (
    <>
      {storedAs !== "oci" && chart.classicRepository && (
        <div class="commands" data-way="classic">
          <h3>The classic way</h3>
          <Command label="add the repository" text={`helm repo add ${alias} ${location.origin}${chart.classicRepository}`} />
          <Command label="update" text="helm repo update" />
          <Command label="install" text={`helm install my-${chart.name} ${alias}/${chart.name} --version ${version}`} />
        </div>
      )}
      {storedAs !== "classic" && (
        <div class="commands" data-way="oci">
          <h3>The OCI way</h3>
          <Command label="pull" text={`helm pull oci://${at} --version ${version}`} />
          <Command label="install" text={`helm install my-${chart.name} oci://${at} --version ${version}`} />
        </div>
      )}
    </>
  );
}
