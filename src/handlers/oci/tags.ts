// GET /v2/<name>/tags/list with `n`, `last` and a Link to the next page.
import type { OciHandler } from "./context.ts";
import { pageOf, replyPaged } from "./paging.ts";

export const getTags: OciHandler<"tags"> = async ({ request, reply, path, services }) => {
  const page = pageOf(request);
  const tags = (await services.manifests.tags(path.name, { limit: page.limit + 1, after: page.after })).filter((tag) => services.guard.authorizer.listable(path.name, tag));
  return replyPaged(reply, `/v2/${path.name}/tags/list`, page, tags, (items) => ({ name: path.name, tags: items }));
};
