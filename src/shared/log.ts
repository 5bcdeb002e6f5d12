// One logger for every program. Tokens, secrets and admission keys must never reach a log
// line, so the redaction list is part of the logger, not left to each call site.
import { pino, type Logger } from "pino";

export const REDACTED_PATHS = [
  "token",
  "access_token",
  "accessToken",
  "*.token",
  "*.access_token",
  "*.accessToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "client_secret",
  "*.client_secret",
  "clientSecret",
  "*.clientSecret",
  "key",
  "*.key",
];

export type { Logger };

export function createLogger(name: string, level = process.env.PODID_LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } });
}

/** A logger that drops everything, for tests and for library use without output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
