// GET /v2/ (the version check) and GET /v2/_catalog (distribution's extension, paged like tags).
import { RegistryError } from "../../domain/errors.ts";
import type { RepositoryName } from "../../domain/names.ts";
import { pageOf, replyPaged, visiblePage } from "./paging.ts";
import type { OciHandler } from "./context.ts";

export const getBase: OciHandler<"base"> = async ({ request, reply, who, services }) => {
  if (!services.guard.authorizer.mayPing(who)) {
    throw new RegistryError("UNAUTHORIZED", "authentication required: sign in with your Berth credentials", null, services.guard.challenge(request, "bearer", []));
  }
  return reply.header("content-type", "application/json").send("{}");
};

export const getCatalog: OciHandler<"catalog"> = async ({ request, reply, who, services }) => {
  const page = pageOf(request);
  const authorizer = services.guard.authorizer;
  // A token granted registry:catalog:* lists what its principal may pull, not what the token may.
  const principal = await services.guard.principalOf(who);
  const names = await visiblePage(
    page,
    (after, limit) => services.manifests.repositories({ limit, after }),
    (name: RepositoryName) => authorizer.shows(principal, name),
  );
  return replyPaged(reply, "/v2/_catalog", page, names, (items) => ({ repositories: items }));
};
