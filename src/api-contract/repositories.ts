// Repository and tag attributes (ACR's "Update Attributes") and the audit trail.
import { z } from "zod";
import { Time } from "./common.ts";

const Flags = { readEnabled: z.boolean(), writeEnabled: z.boolean(), deleteEnabled: z.boolean(), listEnabled: z.boolean() };

/** A repository's attributes, or with ?tag= a tag's (no anonymousPull: that is per repository). */
export const AttributesView = z.union([
  z.strictObject({ repository: z.string(), ...Flags, anonymousPull: z.boolean() }),
  z.strictObject({ repository: z.string(), tag: z.string(), ...Flags }),
]);
export type AttributesView = z.infer<typeof AttributesView>;
export const AttributesQuery = z.strictObject({ tag: z.string().optional() });
export const AttributesPatch = z.strictObject({
  readEnabled: z.boolean().optional(),
  writeEnabled: z.boolean().optional(),
  deleteEnabled: z.boolean().optional(),
  listEnabled: z.boolean().optional(),
  anonymousPull: z.boolean().optional(),
});

export const AuditEvent = z.strictObject({
  at: Time,
  /** e.g. sign-in, token.issued, identity.created, access.denied */
  event: z.string(),
  identity: z.string(),
  action: z.string(),
  repository: z.string().nullable(),
  outcome: z.enum(["success", "failure", "denied"]),
  client: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
/** Newest first. */
export const AuditList = z.strictObject({ events: z.array(AuditEvent) });
export const AuditQuery = z.strictObject({ limit: z.string().regex(/^[0-9]{1,6}$/, "a whole number").optional() });
