// Create-only commits (S3, Azure): a writer's commit makes the object under its key only where the
// key holds none, so an object once made under an upload key is never replaced by another writer
// of that key (a dead instance's late CompleteMultipartUpload, a retried PutObject): the blob row
// may name that object as a published blob's bytes (docs/design/s3-publish-without-copy.md, "The
// one new danger"). The filesystem publishes by rename and replaces.

/** A driver whose writers (writer(), not a hidden writer) commit only where nothing is stored under the key. */
export interface CreateOnlyCommits {
  readonly createOnlyCommits: true;
}

export function commitsCreateOnly(driver: object): driver is CreateOnlyCommits {
  return (driver as Partial<CreateOnlyCommits>).createOnlyCommits === true;
}

/** What a create-only commit rejects with when another object is stored under the key already (it stays). */
export function alreadyExists(key: string, cause?: unknown): Error {
  return Object.assign(new Error(`another object is stored under ${key} already; it is kept`), { code: "EEXIST", cause });
}
