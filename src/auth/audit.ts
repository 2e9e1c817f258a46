// The audit trail: sign-ins, token issues, identity changes and denied requests, as structured
// JSON log lines and rows `berth audit` reads. Never a secret: callers pass names, not passwords.
import { randomUUID } from "node:crypto";
import type { AuditEvent, AuditRows } from "../metadata/identity-types.ts";
import type { Logger } from "../observability/logger.ts";

export type AuditEntry = Omit<AuditEvent, "id" | "at">;

export class AuditLog {
  private readonly rows: AuditRows;
  private readonly logger: Logger;

  constructor(rows: AuditRows, logger: Logger) {
    this.rows = rows;
    this.logger = logger;
  }

  async record(entry: AuditEntry): Promise<void> {
    const event: AuditEvent = { id: `${Date.now().toString(36)}-${randomUUID()}`, at: new Date(), ...entry };
    this.logger.info({ audit: { event: entry.event, identity: entry.identity, action: entry.action, repository: entry.repository, outcome: entry.outcome, client: entry.client } }, "audit");
    try {
      await this.rows.append(event);
    } catch (err) {
      this.logger.error({ err }, "could not store an audit event");
    }
  }
}
