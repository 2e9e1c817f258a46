// Mounts the OCI API under /v2. Its scope keeps request bodies as raw streams and answers
// every failure with the spec's error body, naming only the spec's error codes: every answer
// under /v2/ leaves through `refuse` below, so that rule lives in this one place.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RegistryError } from "../../domain/errors.ts";
import { replyWithError } from "../../http/errors.ts";
import type { Guard } from "../../http/guard.ts";
import { answering } from "../../http/route.ts";
import { parseV2Path } from "../../http/v2-path.ts";
import type { OciContext, OciServices } from "./context.ts";
import { findRoute, methodsFor } from "./routes.ts";

export interface OciPluginOptions {
  guard: Guard;
  services: OciServices;
}

export async function ociPlugin(app: FastifyInstance, options: OciPluginOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));
  const refuse = (reply: FastifyReply, error: unknown) => replyWithError(reply, error, "spec");
  app.setErrorHandler((error, _request, reply) => refuse(reply, error));
  app.setNotFoundHandler((_request, reply) => refuse(reply, new RegistryError("UNSUPPORTED", "no such endpoint")));

  // Labelled "v2" until the path names its kind (manifest, blob, upload...).
  const dispatch = answering("v2", async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header("docker-distribution-api-version", "registry/2.0");
    const rawPath = request.url.split("?")[0]!;
    const path = parseV2Path(rawPath === "/v2" ? "" : rawPath.slice("/v2/".length));
    if (!path) throw new RegistryError("UNSUPPORTED", "no such endpoint", { path: rawPath.slice(0, 300) });
    request.berth.route = path.kind;
    const route = findRoute(path.kind, request.method);
    if (!route) {
      reply.header("allow", methodsFor(path.kind).join(", "));
      throw new RegistryError("UNSUPPORTED", `${request.method} is not supported here`);
    }
    const who = !route.access
      ? await options.guard.identify(request, "bearer")
      : route.otherwise
        ? await options.guard.checkAny(request, [route.access(path, request), route.otherwise(path, request)], "bearer")
        : await options.guard.check(request, route.access(path, request), "bearer");
    const ctx: OciContext = { request, reply, path, who, services: options.services };
    return await route.handler(ctx);
  }, refuse);

  for (const url of ["/", "/*"]) {
    app.route({ method: ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"], url, handler: dispatch });
  }
}
