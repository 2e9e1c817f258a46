// JSON logs through pino. Authorization headers and anything named like a password are redacted
// at the source, so no code path can log a secret by accident.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: undefined,
    redact: {
      paths: ["req.headers.authorization", "headers.authorization", "authorization", "password", "*.password", "adminPassword", "*.adminPassword", "*.secretAccessKey", "*.accountKey", "*.connectionString"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
