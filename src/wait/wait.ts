// `podid wait`: asks the NMI for a token for each of the pod's identities, the way the Azure
// SDK's ManagedIdentityCredential does, until each answers or the time is up. The token is
// thrown away unread (never logged): that the NMI served one is what the app needs to know.
import { WAIT } from "../model/constants.ts";
import { decideAnswer, decideUnreachable, timeoutMessage, type WaitIdentity, type WaitStep } from "./decide.ts";

export interface WaitOptions {
  /** The token server's base URL (AZURE_POD_IDENTITY_AUTHORITY_HOST, or the in-process sidecar). */
  endpoint: string;
  /** Empty: the pod's only identity (no client_id sent). */
  identities: WaitIdentity[];
  timeoutSeconds: number;
  resource?: string;
}

export interface WaitDeps {
  fetch: typeof fetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Progress for `kubectl logs -c podid-wait`: each new reason, once. */
  say: (line: string) => void;
}

export type WaitResult = { ok: true; seconds: number } | { ok: false; message: string };

const IMDS_API_VERSION = "2018-02-01";

function tokenUrl(o: WaitOptions, identity: WaitIdentity | undefined): string {
  const q = new URLSearchParams({ "api-version": IMDS_API_VERSION, resource: o.resource ?? WAIT.resource });
  if (identity !== undefined) q.set("client_id", identity.clientID);
  return `${o.endpoint.replace(/\/+$/, "")}/metadata/identity/oauth2/token?${q.toString()}`;
}

async function ask(o: WaitOptions, identity: WaitIdentity | undefined, attempt: number, d: WaitDeps, budgetMs: number) {
  try {
    const res = await d.fetch(tokenUrl(o, identity), {
      headers: { Metadata: "true" },
      // The NMI itself holds a request up to 20 s while an assignment is in progress.
      signal: AbortSignal.timeout(Math.max(1_000, Math.min(budgetMs, 30_000))),
    });
    return decideAnswer(
      { status: res.status, body: await res.text(), retryAfter: res.headers.get("retry-after") },
      attempt,
    );
  } catch (err) {
    return decideUnreachable(err, attempt);
  }
}

async function waitForOne(o: WaitOptions, identity: WaitIdentity | undefined, deadline: number, d: WaitDeps) {
  const label = identity === undefined ? "the pod's identity" : `identity "${identity.name}"`;
  let last = "no answer yet";
  let lastAnswer: string | undefined;
  for (let attempt = 0; d.now() < deadline; attempt++) {
    const step: WaitStep = await ask(o, identity, attempt, d, deadline - d.now());
    if (step.kind === "ready") return { ok: true as const };
    if (step.reason !== last) d.say(`podid wait: ${label}: ${step.reason}; waiting`);
    last = step.reason;
    if (step.answered) lastAnswer = step.reason;
    await d.sleep(Math.min(step.delayMs, Math.max(0, deadline - d.now())));
  }
  // The NMI's own words (e.g. the assignment's failure) say more than the attempt the deadline cut short.
  return { ok: false as const, reason: lastAnswer ?? last };
}

export async function waitForIdentities(o: WaitOptions, d: WaitDeps): Promise<WaitResult> {
  const started = d.now();
  const deadline = started + o.timeoutSeconds * 1000;
  const targets: Array<WaitIdentity | undefined> = o.identities.length > 0 ? o.identities : [undefined];
  for (const identity of targets) {
    const r = await waitForOne(o, identity, deadline, d);
    if (!r.ok) {
      const who = identity ?? { name: "(the pod's only identity)", clientID: "not given" };
      return { ok: false, message: timeoutMessage(who, o.endpoint, o.timeoutSeconds, r.reason) };
    }
    d.say(`podid wait: ${identity === undefined ? "the pod's identity" : `identity "${identity.name}"`} answers`);
  }
  return { ok: true, seconds: (d.now() - started) / 1000 };
}
