// Real object stores for tests, one per test file: versitygw (an S3 gateway over a directory,
// built into .tools/bin by scripts/install-tools.sh) and Azurite (Azure Blob's emulator, from
// node_modules). Each runs on a free loopback port over a throwaway directory and is stopped and
// removed by stop(). A store that is missing skips (fails under CI=true); one that does not start fails.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent as HttpsAgent } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { BlobServiceClient } from "@azure/storage-blob";
import { freePort, repoRoot } from "./berth.ts";
import { findTool } from "./tools.ts";

export interface RunningStore {
  stop(): Promise<void>;
  output(): string;
}

export interface RunningS3 extends RunningStore {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Creates a bucket (a fresh name per call unless given). */
  bucket(name?: string): Promise<string>;
}

export interface RunningAzurite extends RunningStore {
  connectionString: string;
  accountName: string;
  accountKey: string;
  /** Creates a container (a fresh name per call unless given). */
  container(name?: string): Promise<string>;
}

/** Azurite's well-known development account (public, documented by Microsoft). */
const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** Why a store cannot run here (to skip with), or null. Under CI=true the caller fails instead. */
export function missingStore(kind: "s3" | "azure"): string | null {
  if (kind === "s3" && !findTool("versitygw")) return "versitygw is not installed: run scripts/install-tools.sh";
  return null;
}

let serial = 0;
const fresh = (stem: string) => `${stem}-${process.pid}-${++serial}-${Date.now().toString(36)}`;

async function startProcess(command: string, args: string[], port: number, dir: string, name: string): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  let output = "";
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      // Azurite waits for idle keep-alive connections to close; a throwaway store need not.
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    // A connection taken: it listens (over TLS too, whose certificate a plain fetch would refuse).
    if (await listening(port)) return { child, output: () => output, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`${name} did not start:\n${output}`);
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** A certificate and key for an https store, and the CA (the certificate itself) its clients need. */
export interface StoreTls {
  certFile: string;
  keyFile: string;
  ca: Buffer;
}

/**
 * versitygw with the POSIX backend over a fresh directory (it keeps metadata in xattrs: /tmp has
 * them); over https with `tls`.
 */
export async function startVersitygw(tls?: StoreTls): Promise<RunningS3> {
  const binary = findTool("versitygw");
  if (!binary) throw new Error("versitygw is not installed: run scripts/install-tools.sh");
  const dir = await mkdtemp(join(tmpdir(), "berth-versitygw-"));
  const port = await freePort();
  const accessKeyId = "test";
  const secretAccessKey = "testtest";
  const endpoint = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  const certificate = tls ? ["--cert", tls.certFile, "--key", tls.keyFile] : [];
  const proc = await startProcess(binary, ["--access", accessKeyId, "--secret", secretAccessKey, "--port", `127.0.0.1:${port}`, ...certificate, "posix", dir], port, dir, "versitygw");
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    ...(tls && { requestHandler: { httpsAgent: new HttpsAgent({ ca: tls.ca }) } }),
  });
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region: "us-east-1",
    output: proc.output,
    stop: async () => {
      client.destroy();
      await proc.stop();
    },
    bucket: async (name = fresh("bucket")) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
  };
}

/** Azurite's blob service over a fresh directory. */
export async function startAzurite(): Promise<RunningAzurite> {
  const dir = await mkdtemp(join(tmpdir(), "berth-azurite-"));
  const port = await freePort();
  const main = join(repoRoot, "node_modules/azurite/dist/src/blob/main.js");
  const args = [main, "--location", dir, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--skipApiVersionCheck", "--loose", "--silent"];
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const proc = await startProcess(process.execPath, args, port, dir, "azurite");
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`;
  const service = BlobServiceClient.fromConnectionString(connectionString);
  return {
    connectionString,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    output: proc.output,
    stop: proc.stop,
    container: async (name = fresh("container")) => {
      await service.getContainerClient(name).create();
      return name;
    },
  };
}

/** Berth's settings (BERTH_* variables) for a bucket of a running versitygw. */
export function s3BerthEnv(s3: RunningS3, bucket: string): Record<string, string> {
  return {
    BERTH_STORAGE_DRIVER: "s3",
    BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
    BERTH_STORAGE_S3_REGION: s3.region,
    BERTH_STORAGE_S3_BUCKET: bucket,
    BERTH_STORAGE_S3_FORCE_PATH_STYLE: "true",
    BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** Berth's settings for a container of a running Azurite. */
export function azureBerthEnv(azurite: RunningAzurite, container: string): Record<string, string> {
  return { BERTH_STORAGE_DRIVER: "azure", BERTH_STORAGE_AZURE_CONNECTION_STRING: azurite.connectionString, BERTH_STORAGE_AZURE_CONTAINER: container };
}

/** A fresh bucket (versitygw) or container (Azurite) started for the caller: Berth's settings for it, and how to stop it. */
export async function startObjectStore(kind: "s3" | "azure"): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  if (kind === "s3") {
    const s3 = await startVersitygw();
    return { env: s3BerthEnv(s3, await s3.bucket()), stop: s3.stop };
  }
  const azurite = await startAzurite();
  return { env: azureBerthEnv(azurite, await azurite.container()), stop: azurite.stop };
}
