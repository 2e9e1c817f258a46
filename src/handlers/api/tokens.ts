// Scope maps and the tokens bound to them (ACR: `az acr scope-map`, `az acr token`).
import { NewToken, PasswordOptions, ScopeMapBody, TokenPatch } from "../../api-contract/identities.ts";
import { bodyOf, param, slotParam, type ApiContext } from "./context.ts";

export async function getScopeMaps(ctx: ApiContext) {
  return { scopeMaps: await ctx.identities.scopeMaps.list() };
}

export async function getScopeMap(ctx: ApiContext) {
  return ctx.identities.scopeMaps.get(param(ctx, "name"));
}

export async function putScopeMap(ctx: ApiContext) {
  const { map, created } = await ctx.identities.scopeMaps.put(ctx.by, param(ctx, "name"), bodyOf(ctx, ScopeMapBody));
  return ctx.reply.code(created ? 201 : 200).send(map);
}

export async function deleteScopeMap(ctx: ApiContext) {
  await ctx.identities.scopeMaps.delete(ctx.by, param(ctx, "name"));
  return { deleted: true };
}

export async function getTokens(ctx: ApiContext) {
  return { tokens: await ctx.identities.tokens.list() };
}

export async function postToken(ctx: ApiContext) {
  const created = await ctx.identities.tokens.create(ctx.by, bodyOf(ctx, NewToken));
  return ctx.reply.code(201).send(created);
}

export async function patchToken(ctx: ApiContext) {
  return ctx.identities.tokens.update(ctx.by, param(ctx, "name"), bodyOf(ctx, TokenPatch));
}

export async function postTokenPassword(ctx: ApiContext) {
  return ctx.identities.tokens.rotatePassword(ctx.by, param(ctx, "name"), slotParam(ctx), bodyOf(ctx, PasswordOptions).expiresIn);
}

export async function deleteTokenPassword(ctx: ApiContext) {
  await ctx.identities.tokens.deletePassword(ctx.by, param(ctx, "name"), slotParam(ctx));
  return { deleted: true };
}

export async function deleteToken(ctx: ApiContext) {
  await ctx.identities.tokens.delete(ctx.by, param(ctx, "name"));
  return { deleted: true };
}
