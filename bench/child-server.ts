// The lifecycle every server the bench runs as a child shares: listen on a free loopback port,
// print it for the parent, stop on SIGTERM, and never outlive the parent.
import type { Server } from "node:http";

export function serveAsChild(server: Server): void {
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
  });
  process.once("SIGTERM", () => server.close(() => process.exit(0)));
  process.stdin.resume();
  process.stdin.once("end", () => process.exit(0));
}
