// The admin account, users, service principals, scope maps and tokens (ACR's identity model).
// Secrets appear only in the create and rotate answers.
import { z } from "zod";
import { Time } from "./common.ts";

export const Role = z.enum(["acrpull", "acrpush", "acrdelete", "owner"]);
export type Role = z.infer<typeof Role>;
const Slot = z.union([z.literal(1), z.literal(2)]);

// -- admin

export const AdminView = z.strictObject({ enabled: z.boolean(), passwords: z.array(z.strictObject({ slot: Slot, created: Time })) });
export type AdminView = z.infer<typeof AdminView>;
export const AdminPatch = z.strictObject({ enabled: z.boolean() });
export const AdminPassword = z.strictObject({ slot: Slot, password: z.string() });

// -- users

export const UserView = z.strictObject({ name: z.string(), roles: z.array(Role), enabled: z.boolean(), created: Time });
export type UserView = z.infer<typeof UserView>;
export const UserList = z.strictObject({ users: z.array(UserView) });
export const NewUser = z.strictObject({ name: z.string(), roles: z.array(z.string()), password: z.string().optional() });
/** The password is the one given, or the generated one (shown once). */
export const CreatedUser = z.strictObject({ name: z.string(), roles: z.array(Role), password: z.string() });
export const NewPassword = z.strictObject({ password: z.string().optional() });
export const UserPassword = z.strictObject({ name: z.string(), password: z.string() });

// -- service principals

export const ServicePrincipalView = z.strictObject({
  id: z.string(),
  name: z.string(),
  role: Role,
  scope: z.string().nullable(),
  expires: Time.nullable(),
  enabled: z.boolean(),
  created: Time,
});
export type ServicePrincipalView = z.infer<typeof ServicePrincipalView>;
export const ServicePrincipalList = z.strictObject({ servicePrincipals: z.array(ServicePrincipalView) });
export const NewServicePrincipal = z.strictObject({
  name: z.string(),
  role: z.string(),
  scope: z.string().nullable().optional(),
  /** Seconds until the principal expires. */
  expiresIn: z.number().int().positive().optional(),
});
export const CreatedServicePrincipal = ServicePrincipalView.omit({ enabled: true, created: true }).extend({ secret: z.string() });
export const ServicePrincipalSecret = z.strictObject({ id: z.string(), secret: z.string() });

// -- scope maps

export const ScopeMapAction = z.enum(["content/read", "content/write", "content/delete", "metadata/read", "metadata/write", "attributes/write"]);
export type ScopeMapAction = z.infer<typeof ScopeMapAction>;
export const ScopeMapRule = z.strictObject({ repository: z.string(), actions: z.array(ScopeMapAction) });
export type ScopeMapRule = z.infer<typeof ScopeMapRule>;
export const ScopeMapView = z.strictObject({ name: z.string(), description: z.string(), rules: z.array(ScopeMapRule) });
export type ScopeMapView = z.infer<typeof ScopeMapView>;
export const ScopeMapList = z.strictObject({ scopeMaps: z.array(ScopeMapView) });
/** Actions stay plain strings here, so the service's refusal names the bad one and lists the valid ones. */
export const ScopeMapBody = z.strictObject({
  description: z.string().optional(),
  rules: z.array(z.strictObject({ repository: z.string(), actions: z.array(z.string()) })).max(100),
});

// -- tokens

export const TokenView = z.strictObject({
  name: z.string(),
  scopeMap: z.string(),
  enabled: z.boolean(),
  passwords: z.array(z.strictObject({ slot: Slot, expires: Time.nullable(), created: Time })),
  created: Time,
});
export type TokenView = z.infer<typeof TokenView>;
export const TokenList = z.strictObject({ tokens: z.array(TokenView) });
export const IssuedPassword = z.strictObject({ slot: Slot, password: z.string(), expires: Time.nullable() });
export type IssuedPassword = z.infer<typeof IssuedPassword>;
export const NewToken = z.strictObject({ name: z.string(), scopeMap: z.string(), enabled: z.boolean().optional(), expiresIn: z.number().int().positive().optional() });
export const CreatedToken = z.strictObject({ name: z.string(), scopeMap: z.string(), enabled: z.boolean(), passwords: z.array(IssuedPassword) });
export const TokenPatch = z.strictObject({ enabled: z.boolean().optional(), scopeMap: z.string().optional() });
export const PasswordOptions = z.strictObject({ expiresIn: z.number().int().positive().optional() });
