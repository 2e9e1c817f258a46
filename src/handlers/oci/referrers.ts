// GET /v2/<name>/referrers/<digest>: always 200 with an index, empty when nothing refers.
import { OCI_INDEX } from "../../domain/media-types.ts";
import { queryValue } from "../../http/body.ts";
import type { OciHandler } from "./context.ts";

export const getReferrers: OciHandler<"referrers"> = async ({ request, reply, path, services }) => {
  const artifactType = queryValue(request, "artifactType");
  const { body, filtered } = await services.manifests.referrers(path.name, path.digest, artifactType);
  if (filtered) reply.header("oci-filters-applied", "artifactType");
  return reply.header("content-type", OCI_INDEX).header("content-length", body.length).send(body);
};
