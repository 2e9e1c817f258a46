// Whose connection broke: the client's body (400, its fault) or one Berth opened itself to the
// object store (503, send again). The codes are the same (ECONNRESET, a premature close, an
// abort); only where the error came from tells them apart (attack on uploads, F4).
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test, type TestContext } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { consumedBody } from "../../src/http/body.ts";
import { replyWithError } from "../../src/http/errors.ts";

interface Answer {
  status: number;
  body: { errors: { code: string; message: string; detail: unknown }[] };
}

/** A Fastify app whose routes fail as the test says; every answer it sends is recorded (a gone client cannot read it). */
async function app(t: TestContext, routes: (app: FastifyInstance) => void): Promise<{ port: number; answers: Answer[]; answered: () => Promise<Answer> }> {
  const server = Fastify({ logger: false });
  const answers: Answer[] = [];
  let waiting: ((answer: Answer) => void) | null = null;
  server.setErrorHandler((error, _request, reply) => {
    replyWithError(reply, error, "spec");
    return reply;
  });
  server.addHook("onSend", async (_request, reply, payload) => {
    const answer = { status: reply.statusCode, body: JSON.parse(String(payload)) as Answer["body"] };
    answers.push(answer);
    waiting?.(answer);
    return payload;
  });
  // As the OCI scope does: blob bodies stay unread streams for the route (JSON is Fastify's own parser).
  server.addContentTypeParser("application/octet-stream", (_request, _payload, done) => done(null, undefined));
  routes(server);
  await server.listen({ port: 0, host: "127.0.0.1" });
  t.after(() => server.close());
  const port = (server.server.address() as { port: number }).port;
  const answered = () => (answers.length > 0 ? Promise.resolve(answers[0]!) : new Promise<Answer>((ok) => (waiting = ok)));
  return { port, answers, answered };
}

/** Sends a request whose body stops after `sent` of its declared bytes, then resets the connection. */
async function brokenBody(port: number, path: string, type: string, sent: string, declared: number): Promise<void> {
  await new Promise<void>((ok) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => ok());
    socket.on("close", () => ok());
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${declared}\r\n\r\n${sent}`, () => setTimeout(() => socket.resetAndDestroy(), 50));
  });
}

async function request(port: number, path: string, body: string): Promise<Answer> {
  const answer = await fetch(`http://127.0.0.1:${port}${path}`, { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
  return { status: answer.status, body: (await answer.json()) as Answer["body"] };
}

/** What the S3 SDK throws when the store's connection resets (after its retries): Node's error, with the SDK's $metadata. */
function s3Reset(): Error {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET", name: "TimeoutError", $metadata: { attempts: 3 } });
}

/** Azure's SDK: a RestError carrying the socket's code. */
function azureReset(): Error {
  return Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", name: "RestError" });
}

test("a reset of the object store's connection is a 503 UNAVAILABLE to send again, not the client's 400", async (t) => {
  const { port } = await app(t, (server) => {
    server.put("/s3", async () => {
      throw s3Reset();
    });
    server.put("/azure", async () => {
      throw azureReset();
    });
    server.put("/refused", async () => {
      throw Object.assign(new Error("connect ECONNREFUSED 10.0.0.7:9000"), { code: "ECONNREFUSED" });
    });
  });
  for (const path of ["/s3", "/azure"]) {
    const answer = await request(port, path, "x");
    assert.equal(answer.status, 503, path);
    assert.equal(answer.body.errors[0]!.code, "UNAVAILABLE");
    assert.match(answer.body.errors[0]!.message, /connection to the object store failed.*send the request again/);
  }
  const refused = await request(port, "/refused", "x");
  assert.equal(refused.status, 503);
  assert.doesNotMatch(JSON.stringify(refused.body), /10\.0\.0\.7/, "the store's address stays in the log");
});

test("a store reset while the client's body is being read is still the store's: 503", async (t) => {
  const { port } = await app(t, (server) => {
    server.put("/iterate", async (request) => {
      for await (const chunk of consumedBody(request)) if (chunk.length > 0) throw s3Reset();
    });
    server.put("/chunks", async (request) => {
      await consumedBody(request).eachChunk(() => Promise.reject(azureReset()));
    });
  });
  for (const path of ["/iterate", "/chunks"]) {
    const answer = await request(port, path, "y".repeat(100_000));
    assert.equal(answer.status, 503, path);
    assert.equal(answer.body.errors[0]!.code, "UNAVAILABLE");
  }
});

test("the client's own body ending early stays its 400 BLOB_UPLOAD_INVALID, whichever way Berth reads it", async (t) => {
  for (const [path, type] of [
    ["/iterate", "application/octet-stream"],
    ["/chunks", "application/octet-stream"],
    ["/json", "application/json"],
  ] as const) {
    const { port, answered } = await app(t, (server) => {
      server.put("/iterate", async (request) => {
        for await (const chunk of consumedBody(request)) void chunk;
        return {};
      });
      server.put("/chunks", async (request) => {
        await consumedBody(request).eachChunk(() => undefined);
        return {};
      });
      server.put("/json", async () => ({}));
    });
    await brokenBody(port, path, type, '{"a": "', 1000);
    const answer = await answered();
    assert.equal(answer.status, 400, path);
    assert.equal(answer.body.errors[0]!.code, "BLOB_UPLOAD_INVALID", path);
    assert.equal(answer.body.errors[0]!.message, "the request body ended before it was complete");
  }
});
