// `berth serve`: runs the registry until SIGINT/SIGTERM, then closes gracefully.
import { Command, Option } from "@commander-js/extra-typings";
import { buildApp } from "../app.ts";
import { createServer } from "node:http";
import { settingPaths } from "../config/load.ts";
import { startupWarnings } from "../config/warnings.ts";
import { everyOnOneInstance } from "../services/background.ts";
import { RegistryError } from "../domain/errors.ts";
import { configFrom, configOption, dataOption } from "./store-options.ts";

/** How long the change log keeps an entry every consumer has acknowledged. */
const CHANGE_LOG_DAYS = 7;

function settingsHelp(): string {
  const rows = settingPaths().map((s) => `  ${s.path.padEnd(32)} ${s.env.padEnd(38)} ${s.description}${s.default !== undefined ? ` [default: ${JSON.stringify(s.default)}]` : ""}`);
  return `\nEvery setting (YAML key, environment variable; flags win over the environment, which wins over the file):\n${rows.join("\n")}\n\nShort variables: BERTH_PORT, BERTH_HOST, BERTH_DATA, BERTH_ADMIN_PASSWORD, BERTH_ANONYMOUS_PULL, BERTH_LOG_LEVEL.\n`;
}

export const serveCommand = new Command("serve")
  .description("run the registry (the embedded default: files under --data, metadata in SQLite)")
  .addOption(configOption())
  .addOption(dataOption())
  .addOption(new Option("-p, --port <port>", "port to listen on (http.port; env BERTH_PORT) [default: 5000]"))
  .addOption(new Option("--host <address>", "address to listen on (http.host; env BERTH_HOST) [default: 0.0.0.0]"))
  .addOption(new Option("--anonymous-pull", "let requests without credentials pull (auth.anonymousPull)"))
  .addOption(new Option("--log-level <level>", "log level (log.level; env BERTH_LOG_LEVEL)"))
  .addHelpText("after", settingsHelp)
  .action(async (options) => {
    const config = configFrom(options, {
      "http.port": options.port,
      "http.host": options.host,
      "auth.anonymousPull": options.anonymousPull,
      "log.level": options.logLevel,
    });
    const berth = await buildApp(config);
    if (berth.generatedPassword) {
      process.stdout.write(
        `\nGenerated a password for the admin user (shown once; set BERTH_ADMIN_PASSWORD to choose your own):\n\n  username: admin\n  password: ${berth.generatedPassword}\n\n`,
      );
    }
    // Once across all instances over this database, by whichever holds the job's lease.
    const maintenance = everyOnOneInstance(
      berth.stores.metadata.jobs,
      "maintenance",
      Math.max(config.uploads.purgeInterval, 1) * 1000,
      async () => {
        await berth.uploads.purgeIdle(new Date(Date.now() - config.uploads.expireAfter * 1000)).catch((err: unknown) => berth.logger.error({ err }, "upload purge failed"));
        // Caches read the change log within a second; a week is for consumers that were away.
        await berth.stores.metadata.changes.prune(new Date(Date.now() - CHANGE_LOG_DAYS * 86_400_000)).catch((err: unknown) => berth.logger.error({ err }, "change log prune failed"));
        // Soft delete: deleted content past its restore window is forgotten; gc then frees its blobs.
        await berth.stores.metadata.transaction((tx) => tx.trash.purgeExpired(new Date())).catch((err: unknown) => berth.logger.error({ err }, "purging expired deleted content failed"));
      },
      (err: unknown) => berth.logger.error({ err }, "background job failed"),
    );
    // Webhook deliveries: one instance at a time, from rows, so a restart or another instance goes on where this one stopped.
    const webhooks = everyOnOneInstance(
      berth.stores.metadata.jobs,
      "webhooks",
      Math.max(config.webhooks.interval * 1000, 10),
      () => berth.webhooks.tick(),
      (err: unknown) => berth.logger.error({ err }, "webhook delivery failed"),
    );
    // Retention: one instance at a time; a run with no policy does nothing (retention.interval 0: on demand only).
    const retention =
      config.retention.interval > 0
        ? everyOnOneInstance(
            berth.stores.metadata.jobs,
            "retention",
            config.retention.interval * 1000,
            async () => {
              const report = await berth.retention.run({ dryRun: false, trigger: "schedule", actor: { name: "retention", kind: "system", address: null, userAgent: null } });
              if (report.items.length > 0) berth.logger.info({ summary: report.summary }, "retention ran");
            },
            // Another instance's run still going (a run outlasting the lease) is no failure: the next tick tries again.
            (err: unknown) => (err instanceof RegistryError && err.code === "RETENTION_RUNNING" ? berth.logger.info("retention: another run is going, next tick tries again") : berth.logger.error({ err }, "retention run failed")),
          )
        : null;
    const address = await berth.app.listen({ port: config.http.port, host: config.http.host });
    berth.logger.info({ address, data: config.storage.data, metadata: config.metadata.driver }, "berth is listening");
    for (const warning of startupWarnings(config)) berth.logger.warn(warning);
    const metricsServer = config.metrics.port === undefined ? null : serveMetrics(berth.metrics.registry, config.http.host, config.metrics.port);
    if (metricsServer) metricsServer.on("listening", () => berth.logger.info({ address: metricsServer.address() }, "metrics are served here, at /metrics"));
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      berth.logger.info({ signal }, "shutting down");
      metricsServer?.close();
      Promise.all([maintenance.stop(), webhooks.stop(), retention?.stop()])
        .then(() => berth.close())
        .then(
          () => process.exit(0),
          (err: unknown) => {
            berth.logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
    };
    process.on("SIGINT", () => shutdown("SIGINT"));
    process.on("SIGTERM", () => shutdown("SIGTERM"));
  });

/** /metrics on a port of its own (metrics.port), for a scraper on a private network; nothing else answers there. */
function serveMetrics(registry: { contentType: string; metrics(): Promise<string> }, host: string, port: number) {
  const server = createServer((request, response) => {
    // nosniff on every response, as src/http/response-headers.ts sets it on the registry's port (cli/ may not import http/).
    response.setHeader("x-content-type-options", "nosniff");
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("metrics are at /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      () => response.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"),
    );
  });
  server.listen(port, host);
  return server;
}
