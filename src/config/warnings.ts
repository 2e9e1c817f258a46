// Settings that make a quick start easy and a production registry weaker: each start names the
// ones in effect, with what to set instead (docs/security.md, "Production settings").
import type { Config } from "./schema.ts";

export function startupWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (!config.http.publicUrl) {
    warnings.push(
      `http.publicUrl is not set: each request's Host header names the token realm${config.auth.service ? "" : " and the service tokens are issued for"}. Set http.publicUrl (BERTH_HTTP_PUBLIC_URL) to the URL clients use.`,
    );
  }
  if (config.http.publicUrl && !config.http.trustProxy) {
    warnings.push(
      "http.publicUrl is set but http.trustProxy is not: behind a reverse proxy every client shares the proxy's address, so sign-in limits would count them all as one. Name the proxy in http.trustProxy (BERTH_HTTP_TRUST_PROXY).",
    );
  }
  if (config.metrics.port === undefined && config.metrics.access === "public") {
    warnings.push("GET /metrics answers anyone on the registry's port. Set metrics.access=signed-in (BERTH_METRICS_ACCESS) or serve metrics on a private port with metrics.port (BERTH_METRICS_PORT).");
  }
  return warnings;
}
