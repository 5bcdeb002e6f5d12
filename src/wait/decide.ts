// `podid wait`'s decisions, pure: what the wait flag and annotation mean, and what one answer
// of the NMI means for the wait (the identity answers; or try again, when and why). Every
// answer but a token is worth waiting on: a pod that just started may not be in the NMI's
// cache yet (403), its assignment may still be running or have failed and be retried (503),
// the NMI may be starting (connection refused). The last reason is what a timeout reports.
import { WAIT } from "../model/constants.ts";

export interface WaitIdentity {
  name: string;
  clientID: string;
}

/** `answered`: the NMI answered (its reason outranks a later attempt cut short by the deadline). */
export type WaitStep = { kind: "ready" } | { kind: "retry"; reason: string; delayMs: number; answered: boolean };

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 5_000;

/** "<N>s", "<N>m" or a bare number of seconds, 1 to WAIT.maxTimeoutSeconds. */
export function parseWaitDuration(v: string): { ok: true; seconds: number } | { ok: false; message: string } {
  const m = /^(\d+)(s|m)?$/.exec(v.trim());
  const seconds = m === null ? NaN : Number(m[1]) * (m[2] === "m" ? 60 : 1);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > WAIT.maxTimeoutSeconds)
    return {
      ok: false,
      message: `expected a duration from 1s to ${WAIT.maxTimeoutSeconds}s such as "300s" or "5m", got ${JSON.stringify(v)}`,
    };
  return { ok: true, seconds };
}

/**
 * The pod annotation: absent or "false" = no wait; "true" = wait up to the default; a duration
 * = wait up to that long. Anything else is an error naming the annotation.
 */
export function parseWaitAnnotation(
  value: string | undefined,
): { ok: true; timeoutSeconds?: number } | { ok: false; message: string } {
  if (value === undefined || value === "false") return { ok: true };
  if (value === "true") return { ok: true, timeoutSeconds: WAIT.defaultTimeoutSeconds };
  const d = parseWaitDuration(value);
  if (d.ok) return { ok: true, timeoutSeconds: d.seconds };
  return {
    ok: false,
    message: `annotation ${WAIT.annotation}: expected "true", "false" or a duration such as "300s", got ${JSON.stringify(value)}`,
  };
}

/** `--identity <name>:<client-id>`, as the webhook writes it into the init container's args. */
export function parseWaitIdentity(v: string): WaitIdentity {
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?):([0-9a-fA-F-]{36})$/.exec(v);
  if (m === null) throw new Error(`--identity: expected <AzureIdentity name>:<client ID>, got ${JSON.stringify(v)}`);
  return { name: m[1]!, clientID: m[3]!.toLowerCase() };
}

function delayFrom(retryAfter: string | null, attempt: number): number {
  const s = retryAfter !== null ? Number(retryAfter) : NaN;
  const wanted = Number.isFinite(s) && s >= 0 ? s * 1000 : MIN_DELAY_MS * 2 ** attempt;
  return Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, wanted));
}

/** One answer of the NMI's token endpoint. `body` is its text; nothing of a token is kept. */
export function decideAnswer(
  answer: { status: number; body: string; retryAfter: string | null },
  attempt: number,
): WaitStep {
  let parsed: { access_token?: unknown; error?: unknown; error_description?: unknown } = {};
  try {
    parsed = JSON.parse(answer.body) as typeof parsed;
  } catch {
    // not JSON: reported by its status below
  }
  if (answer.status === 200 && typeof parsed.access_token === "string" && parsed.access_token !== "")
    return { kind: "ready" };
  const why =
    typeof parsed.error_description === "string"
      ? parsed.error_description
      : answer.status === 200
        ? "the NMI answered 200 without a token"
        : answer.body.slice(0, 300);
  return {
    kind: "retry",
    reason: `HTTP ${answer.status}: ${why}`,
    delayMs: delayFrom(answer.retryAfter, attempt),
    answered: true,
  };
}

/** The NMI could not be reached at all. */
export function decideUnreachable(err: unknown, attempt: number): WaitStep {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
  const msg = err instanceof Error ? `${err.message}${cause}` : String(err);
  return {
    kind: "retry",
    reason: `the NMI did not answer (${msg})`,
    delayMs: delayFrom(null, attempt),
    answered: false,
  };
}

export function timeoutMessage(identity: WaitIdentity, endpoint: string, seconds: number, reason: string): string {
  return (
    `identity "${identity.name}" (client ID ${identity.clientID}) did not answer through the NMI at ${endpoint} ` +
    `within ${seconds}s; last answer: ${reason}`
  );
}
