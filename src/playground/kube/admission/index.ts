// Admission as the apiserver runs it: every matching mutating webhook in order (patches applied
// between calls, IfNeeded webhooks reinvoked once if a later webhook changed the object), then
// every matching validating webhook. failurePolicy decides whether an unreachable or broken
// webhook fails the request (`failed calling webhook`) or is skipped.
import { randomUUID } from "node:crypto";
import fastJsonPatch from "fast-json-patch";
import { ApiError, internalError } from "../status.ts";
import { clone, type KObject, type ResourceDef } from "../types.ts";
import { CallError, WebhookAgents, postReview, targetOf, type ServiceResolver } from "./call.ts";
import { webhookMatches, webhooksOf, type AdmissionAttributes, type Webhook } from "./match.ts";
import { InvalidResponse, buildReview, readResponse } from "./review.ts";

export type { AdmissionAttributes } from "./match.ts";

export interface AdmissionDeps {
  mutatingConfigs(): KObject[];
  validatingConfigs(): KObject[];
  namespaceLabels(ns: string): Record<string, string> | undefined;
  resolveService: ServiceResolver;
  /** Re-applies decode-time defaults after a webhook's patch. */
  redefault(o: KObject): void;
  /** Why the patched object would not decode into its type (the apiserver answers 500 then). */
  decodeError?(def: ResourceDef, o: KObject): string | undefined;
  onWebhookError?(webhook: string, err: unknown): void;
}

export interface AdmissionResult {
  object?: KObject;
  warnings: string[];
}

export class Admission {
  private readonly agents = new WebhookAgents();

  constructor(private readonly deps: AdmissionDeps) {}

  /** Closes the kept-alive webhook connections. */
  close(): void {
    this.agents.destroy();
  }

  private matching(configs: KObject[], a: AdmissionAttributes): Webhook[] {
    if (configs.length === 0) return [];
    const nsLabels = a.def.namespaced ? this.deps.namespaceLabels(a.namespace) : undefined;
    return webhooksOf(configs).filter((w) => webhookMatches(w, a, nsLabels));
  }

  /** Calls one webhook; `undefined` when it failed and failurePolicy is Ignore. */
  private async call(w: Webhook, a: AdmissionAttributes): Promise<ReturnType<typeof readResponse> | undefined> {
    const uid = randomUUID();
    try {
      const target = targetOf(w, this.deps.resolveService);
      const body = await postReview(
        target,
        w.clientConfig.caBundle,
        buildReview(a, uid),
        w.timeoutSeconds,
        this.agents,
      );
      return readResponse(w.name, uid, body);
    } catch (err) {
      this.deps.onWebhookError?.(w.name, err);
      if (w.failurePolicy === "Ignore") return undefined;
      const detail =
        err instanceof CallError
          ? `failed to call webhook: ${err.message}`
          : err instanceof InvalidResponse
            ? `received invalid webhook response: ${err.message}`
            : String(err);
      const msg = `failed calling webhook "${w.name}": ${detail}`;
      throw internalError(msg, [{ message: msg }]);
    }
  }

  async mutate(a: AdmissionAttributes): Promise<AdmissionResult> {
    const hooks = this.matching(this.deps.mutatingConfigs(), a);
    const warnings: string[] = [];
    if (hooks.length === 0) return { object: a.object, warnings };
    let object = a.object;
    const calledAt = new Map<string, number>();
    let changes = 0;
    const run = async (w: Webhook): Promise<void> => {
      const out = await this.call(w, { ...a, object });
      calledAt.set(w.name, changes);
      if (out === undefined) return;
      warnings.push(...out.warnings);
      if (!out.allowed) throw withWarnings(out.denial!, warnings);
      if (out.patch !== undefined && out.patch.length > 0 && object !== undefined) {
        const next = applyWebhookPatch(w.name, object, out.patch);
        const bad = this.deps.decodeError?.(a.def, next);
        if (bad !== undefined) throw internalError(bad);
        this.deps.redefault(next);
        if (JSON.stringify(next) !== JSON.stringify(object)) changes++;
        object = next;
      }
      // Its own change does not make a webhook "needed" again; only later ones do.
      calledAt.set(w.name, changes);
    };
    for (const w of hooks) await run(w);
    // Reinvocation: IfNeeded webhooks that ran before a later change see the object once more.
    for (const w of hooks) {
      if (w.reinvocationPolicy === "IfNeeded" && (calledAt.get(w.name) ?? changes) < changes) await run(w);
    }
    return { object, warnings };
  }

  async validate(a: AdmissionAttributes): Promise<string[]> {
    const hooks = this.matching(this.deps.validatingConfigs(), a);
    const warnings: string[] = [];
    // The apiserver calls validating webhooks in parallel; the first denial (in order) wins.
    const outs = await Promise.allSettled(hooks.map((w) => this.call(w, a)));
    for (const o of outs) {
      if (o.status === "rejected") throw withWarnings(o.reason as ApiError, warnings);
      if (o.value === undefined) continue;
      warnings.push(...o.value.warnings);
    }
    for (const o of outs) {
      if (o.status === "fulfilled" && o.value !== undefined && !o.value.allowed)
        throw withWarnings(o.value.denial!, warnings);
    }
    return warnings;
  }
}

function withWarnings(e: ApiError, warnings: string[]): ApiError {
  return new ApiError(e.code, e.reason, e.message, e.details, [...new Set([...warnings, ...e.warnings])]);
}

function applyWebhookPatch(webhook: string, object: KObject, ops: unknown[]): KObject {
  try {
    const out = fastJsonPatch.applyPatch(clone(object), ops as never, true, false).newDocument;
    if (typeof out !== "object" || out === null || typeof out.metadata !== "object")
      throw new Error("the patch removed metadata");
    return out;
  } catch (err) {
    const msg = `failed calling webhook "${webhook}": JSON Patch: ${err instanceof Error ? err.message.split("\n")[0]! : String(err)}`;
    throw internalError(msg);
  }
}
