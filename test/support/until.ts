// Waiting for something another process or a worker does in its own time (a webhook delivered, a
// row written): polled, never slept for a fixed while, so a slow machine only waits longer.
import { setTimeout as sleep } from "node:timers/promises";

/** Polls `check` every `everyMs` until it holds; throws naming `what` once `timeoutMs` have passed. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
    await sleep(everyMs);
  }
}
