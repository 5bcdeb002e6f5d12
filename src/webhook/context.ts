// What every admission handler gets: the state, the admission keys, options and a logger.
// A handler is a function from a decoded request to a response; it never throws (the route
// turns an exception into an errored response anyway).
import type { Logger } from "pino";
import type { AdmissionKeys } from "../policy/admission-mark.ts";
import type { NmiTls } from "./mutate.ts";
import type { AdmissionResponse } from "./responses.ts";
import type { AdmissionRequest } from "./review.ts";
import type { WebhookState } from "./state.ts";

export interface HandlerContext {
  state: WebhookState;
  /** Current keys (reloaded when the file changes); undefined = marks are not written. */
  keys: () => AdmissionKeys | undefined;
  sidecarImage: string;
  /** What injected sidecars check the node NMI's certificate with; undefined = not configured. */
  nmiTls: () => NmiTls | undefined;
  log: Logger;
}

export interface Outcome {
  response: AdmissionResponse;
  /** For metrics: allowed | denied | patched | errored | skipped, and the rule that decided. */
  result: "allowed" | "denied" | "patched" | "errored" | "skipped";
  reason: string;
}

export type Handler = (req: AdmissionRequest, ctx: HandlerContext) => Outcome;

export const objectName = (req: AdmissionRequest, obj: unknown): string => {
  const meta = (obj as { metadata?: { name?: unknown; generateName?: unknown } } | undefined)?.metadata;
  if (typeof meta?.name === "string" && meta.name !== "") return meta.name;
  if (req.name !== undefined) return req.name;
  return typeof meta?.generateName === "string" ? `${meta.generateName}*` : "(unnamed)";
};
