// Background work that several instances over one database must do once, not once each (the
// idle-upload purge and the change log's pruning, webhook deliveries, retention runs): each instance asks
// for the job's lease (metadata/job-store.ts) on every tick, and only the holder works. The holder
// renews the lease each tick; if it dies, the lease runs out after two ticks and another instance
// takes the job at its next tick.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { JobRows } from "../metadata/types.ts";

export interface BackgroundJob {
  /** Stops ticking and gives the lease up, so another instance need not wait for it to run out. */
  stop(): Promise<void>;
}

/** This process, as a job lease names its holder: readable in the database, unique per start. */
export const instanceId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

export function everyOnOneInstance(jobs: JobRows, name: string, everyMs: number, work: () => Promise<void>, failed: (err: unknown) => void): BackgroundJob {
  let running: Promise<void> | null = null;
  const tick = async () => {
    if (await jobs.claim(name, instanceId, 2 * everyMs)) await work();
  };
  const timer = setInterval(() => {
    running ??= tick()
      .catch(failed)
      .finally(() => (running = null));
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await jobs.release(name, instanceId).catch(failed);
    },
  };
}
