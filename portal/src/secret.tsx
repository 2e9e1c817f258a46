// A password or secret shown exactly once, in the answer that made it (identities, webhooks), with
// a button that saves it as a text file made in the browser.

/** What is shown: a sentence naming it, the secret, and the file name it downloads as. */
export interface Shown {
  what: string;
  secret: string;
  file: string;
}

/**
 * Saves the secret as a text file made here in the browser (a Blob URL; nothing goes back to the
 * server, which no longer knows the secret), named after what it is.
 */
function download(shown: Shown): void {
  const url = URL.createObjectURL(new Blob([`${shown.what}\n${shown.secret}\n`], { type: "text/plain;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = shown.file;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `berth-token-ci-password1.txt`: letters, digits, dots and dashes of a name only. */
export const fileName = (...parts: string[]) => `berth-${parts.join("-").replace(/[^A-Za-z0-9.-]+/g, "_").slice(0, 100)}.txt`;

export function Secret({ shown }: { shown: Shown | null }) {
  if (!shown) return null;
  return (
    <div class="secret" role="status">
      <p>
        {shown.what}: copy it now, it is shown only this once.
      </p>
      <code>{shown.secret}</code>{" "}
      <button type="button" onClick={() => download(shown)}>
        Download as a text file
      </button>
    </div>
  );
}

