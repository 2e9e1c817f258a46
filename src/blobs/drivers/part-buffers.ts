// Cuts a stream into fixed-size parts for object stores whose part uploads need a length up
// front (S3 UploadPart, Azure stageBlock). Memory per writer is bounded by two part buffers: one
// filling while the one before it uploads; a blob of any size streams through them.

/** Bytes read from the source, and what is left after the last full part (not uploaded). */
export interface CutResult {
  read: number;
  rest: Buffer;
}

/**
 * Feeds `lead` (bytes held from an earlier part, e.g. S3's tail) and then the source's bytes into
 * buffers of `partSize` bytes; hands each full buffer to `upload` (at most one upload runs while
 * the next buffer fills, in order; a buffer is filled again once its upload resolved, so `upload`
 * must be done with it by then) and returns what is left over, shorter than `partSize`. An
 * upload or the source failing rejects after the running upload settled, so nothing keeps going
 * after the caller saw the failure.
 */
export async function cutParts(
  source: AsyncIterable<Uint8Array>,
  partSize: number,
  upload: (part: Buffer) => Promise<void>,
  options: { lead?: Buffer; signal?: AbortSignal } = {},
): Promise<CutResult> {
  let running: Promise<void> | null = null;
  let buffer: Buffer = Buffer.allocUnsafe(partSize);
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
        // Two buffers in turn, not a fresh one per part: fresh memory is a page fault per 4 KiB
        // touched, which cost more CPU than the copy itself (docs/performance.md, S3 push).
        const free = uploading ?? Buffer.allocUnsafe(partSize);
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
    throw err;
  }
  return { read, rest: buffer.subarray(0, fill) };
}

/** A whole (small) body as one buffer: S3 tails, at most a few MiB. */
export async function readToBuffer(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
