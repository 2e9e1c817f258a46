// The admin account, users and service principals (ACR: `az acr update --admin-enabled`,
// `az acr credential renew`, service principals with a role and scope). Secrets appear only in
// the create and rotate answers.
import { Empty } from "../../api-contract/common.ts";
import { AdminPatch, NewPassword, NewServicePrincipal, NewUser } from "../../api-contract/identities.ts";
import { bodyOf, param, slotParam, type ApiContext } from "./context.ts";

export async function getAdmin(ctx: ApiContext) {
  return ctx.identities.admin.show();
}

export async function patchAdmin(ctx: ApiContext) {
  return ctx.identities.admin.setEnabled(ctx.by, bodyOf(ctx, AdminPatch).enabled);
}

export async function postAdminPassword(ctx: ApiContext) {
  bodyOf(ctx, Empty);
  return ctx.identities.admin.rotatePassword(ctx.by, slotParam(ctx));
}

export async function getUsers(ctx: ApiContext) {
  return { users: await ctx.identities.users.list() };
}

export async function postUser(ctx: ApiContext) {
  const created = await ctx.identities.users.create(ctx.by, bodyOf(ctx, NewUser));
  return ctx.reply.code(201).send(created);
}

export async function deleteUser(ctx: ApiContext) {
  await ctx.identities.users.delete(ctx.by, param(ctx, "name"));
  return { deleted: true };
}

export async function postUserPassword(ctx: ApiContext) {
  return ctx.identities.users.resetPassword(ctx.by, param(ctx, "name"), bodyOf(ctx, NewPassword).password);
}

export async function getServicePrincipals(ctx: ApiContext) {
  return { servicePrincipals: await ctx.identities.servicePrincipals.list() };
}

export async function postServicePrincipal(ctx: ApiContext) {
  const created = await ctx.identities.servicePrincipals.create(ctx.by, bodyOf(ctx, NewServicePrincipal));
  return ctx.reply.code(201).send(created);
}

export async function postServicePrincipalSecret(ctx: ApiContext) {
  bodyOf(ctx, Empty);
  return ctx.identities.servicePrincipals.resetSecret(ctx.by, param(ctx, "id"));
}

export async function deleteServicePrincipal(ctx: ApiContext) {
  await ctx.identities.servicePrincipals.delete(ctx.by, param(ctx, "id"));
  return { deleted: true };
}
