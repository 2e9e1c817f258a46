// Asking the person at the terminal: a y/N confirmation before a delete, a user name, a password
// without echo. Without a terminal nothing is asked: the caller gets a CliError naming the flag
// that replaces the question (--yes, -u, --password-stdin), as az and docker do.
import { createInterface } from "node:readline/promises";
import { Option } from "@commander-js/extra-typings";
import { CliError } from "./client.ts";

export const yesOption = () => new Option("-y, --yes", "do not ask for confirmation (needed when stdin is not a terminal)");

/** Asks on a terminal; without one, refuses (as az does) rather than delete unasked. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new CliError("not deleting without confirmation: no terminal to ask on; pass --yes");
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** A visible answer, the question on stderr so stdout stays the command's output. */
export async function promptLine(question: string, missing: string): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError(missing);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/**
 * A secret typed without echo: the terminal goes to raw mode, so every key arrives here and none is
 * shown. Enter ends it, Ctrl-C cancels, backspace removes the last character.
 */
export async function promptHidden(question: string, missing: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw new CliError(missing);
  // Raw mode before the question: a key typed as soon as it shows must not be echoed.
  input.setRawMode(true);
  input.setEncoding("utf8");
  input.resume();
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed: string[] = [];
    const finish = (err: Error | null) => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(typed.join(""));
    };
    const onData = (chunk: string) => {
      for (const key of chunk) {
        if (key === "\r" || key === "\n" || key === "\u0004") return finish(null);
        if (key === "\u0003") return finish(new CliError("cancelled"));
        if (key === "\u007f" || key === "\b") typed = typed.slice(0, -1);
        else if (key >= " ") typed.push(key);
      }
    };
    input.on("data", onData);
  });
}
