// GET /v2/<name>/tags/list with `n`, `last` and a Link to the next page.
import type { OciHandler } from "./context.ts";
import { pageOf, replyPaged, visiblePage } from "./paging.ts";

export const getTags: OciHandler<"tags"> = async ({ request, reply, path, who, services }) => {
  const page = pageOf(request);
  const tags = await visiblePage(page, (after, limit) => services.manifests.tags(path.name, { limit, after }), (tag) => services.guard.authorizer.shows(who, path.name, tag));
  return replyPaged(reply, `/v2/${path.name}/tags/list`, page, tags, (items) => ({ name: path.name, tags: items }));
};
