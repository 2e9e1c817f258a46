// Reads Berth's JSON access log (the `request` lines a started server prints) back as records,
// so a test can assert which requests reached the server.
export interface AccessLine {
  method?: string;
  path?: string;
  status?: number;
}

export function accessLines(output: string): AccessLine[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as AccessLine;
      } catch {
        return {};
      }
    })
    .filter((l) => l.method !== undefined && l.path !== undefined);
}

/**
 * Returns once every request answered before this call is in `output()`. A line is printed after
 * its answer and reaches the test through a pipe, so a client's last request can show up later
 * than the next step's; one more request, whose line is awaited, pushes all earlier ones through.
 */
export async function logBarrier(server: { url: string; output(): string }): Promise<void> {
  const path = `/api/v1/log-barrier-${Math.random().toString(36).slice(2)}`;
  await (await fetch(server.url + path)).arrayBuffer();
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    if (accessLines(server.output()).some((l) => l.path === path)) return;
  }
  throw new Error(`the barrier request ${path} was not logged within 10 s`);
}
