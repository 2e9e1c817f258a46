// Cuts a stream into fixed-size parts for object stores whose part uploads need a length up
// front (S3 UploadPart, Azure stageBlock). Memory per writer is bounded by two part buffers: one
// filling while the one before it uploads; a blob of any size streams through them.

/**
 * Part-size buffers kept for the next writes. A fresh one is a page fault per 4 KiB the copy
 * touches (4,096 for a 16 MiB part) and garbage for the collector after: on a chunked push to S3,
 * where each PATCH took fresh ones, together three times the CPU of everything else
 * (docs/performance.md, "The chunked push on S3"). Three idle ones: 48 MiB at the default part size.
 */
const IDLE_PART_BUFFERS = 3;
const idlePartBuffers: Buffer[] = [];

/** A buffer of `size` bytes, reused if one is idle; hand it back with givePartBuffer once nothing reads it. */
export function partBuffer(size: number): Buffer {
  const at = idlePartBuffers.findIndex((b) => b.length === size);
  return at >= 0 ? idlePartBuffers.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(size);
}

export function givePartBuffer(buffer: Buffer): void {
  if (idlePartBuffers.length < IDLE_PART_BUFFERS && !idlePartBuffers.includes(buffer)) idlePartBuffers.push(buffer);
}

/** Bytes read from the source, what is left after the last full part (not uploaded), and how to give its buffer back once used. */
export interface CutResult {
  read: number;
  rest: Buffer;
  release: () => void;
}

/**
 * Feeds `lead` (bytes held from an earlier part, e.g. S3's tail) and then the source's bytes into
 * buffers of `partSize` bytes; hands each full buffer to `upload` (at most one upload runs while
 * the next buffer fills, in order; a buffer is filled again once its upload resolved, so `upload`
 * must be done with it by then) and returns what is left over, shorter than `partSize`, to be
 * released once used. An upload or the source failing rejects after the running upload settled,
 * so nothing keeps going after the caller saw the failure.
 */
export async function cutParts(
  source: AsyncIterable<Uint8Array>,
  partSize: number,
  upload: (part: Buffer) => Promise<void>,
  options: { lead?: Buffer; signal?: AbortSignal } = {},
): Promise<CutResult> {
  let running: Promise<void> | null = null;
  let buffer: Buffer = partBuffer(partSize);
  /** The buffer of the running upload, filled again once that upload is done. */
  let uploading: Buffer | null = null;
  let fill = 0;
  let read = 0;
  const push = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(partSize - fill, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === partSize) {
        if (running) await running;
        // Two buffers in turn, not a fresh one per part.
        const free = uploading ?? partBuffer(partSize);
        uploading = buffer;
        running = upload(buffer);
        running.catch(() => undefined); // awaited before the next part and at the end
        buffer = free;
        fill = 0;
      }
    }
  };
  try {
    if (options.lead) await push(options.lead);
    for await (const chunk of source) {
      options.signal?.throwIfAborted();
      read += chunk.length;
      await push(chunk);
    }
    options.signal?.throwIfAborted();
    if (running) await running;
  } catch (err) {
    if (running) await (running as Promise<void>).catch(() => undefined);
    if (uploading) givePartBuffer(uploading);
    givePartBuffer(buffer);
    throw err;
  }
  if (uploading) givePartBuffer(uploading);
  const held = buffer;
  return { read, rest: held.subarray(0, fill), release: () => givePartBuffer(held) };
}

/** A whole (small) body as one buffer: S3 tails, at most a few MiB. */
export async function readToBuffer(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
