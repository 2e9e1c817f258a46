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
  /** What an event of the event stream names as its `audit` (docs/lifecycle.md). */
  id: z.string(),
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
/** Every filter given must match (exact values; the time range from inclusive, to exclusive). */
export const AuditQuery = z.strictObject({
  limit: z.string().regex(/^[0-9]{1,6}$/, "a whole number").optional(),
  /** who: a user or token name, a service principal's id, admin, anonymous */
  identity: z.string().min(1).max(256).optional(),
  event: z.string().min(1).max(100).optional(),
  action: z.string().min(1).max(100).optional(),
  repository: z.string().min(1).max(256).optional(),
  outcome: z.enum(["success", "failure", "denied"]).optional(),
  /** an ISO 8601 time, e.g. 2026-12-06T10:00:00Z */
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});

/** Every repository and tag with attributes of its own (a stored row), repositories first by name. */
export const AttributeRowList = z.strictObject({
  attributes: z.array(z.strictObject({ repository: z.string(), tag: z.string().nullable(), ...Flags, anonymousPull: z.boolean().nullable() })),
});
