// podid's own objects at CREATE and UPDATE: the schema (the same parsers every program uses),
// the namespace policy's allowed identities, and whether exceptions may be made in the
// namespace. A binding naming an identity that is not in its namespace only gets a warning: it
// may be created next.
import { BINDING_LABEL, GROUP, KINDS } from "../model/constants.ts";
import {
  formatErrors,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import { isObject } from "../model/read.ts";
import type { AzureIdentity, AzurePodIdentityPolicy, Parsed } from "../model/types.ts";
import { effectivePolicy, exceptionsAllowed, identityViolations, messages } from "../policy/index.ts";
import { objectName, type Handler, type HandlerContext, type Outcome } from "./context.ts";
import { allowed, denied } from "./responses.ts";
import type { AdmissionRequest } from "./review.ts";

const invalid = (req: AdmissionRequest, kind: string, errors: Array<{ field: string; message: string }>): Outcome => ({
  response: denied(req.uid, `${kind} "${objectName(req, req.object)}" is invalid: ${formatErrors(errors)}`, 422),
  result: "denied",
  reason: "invalid",
});

/** The object with its namespace filled in from the request (it may be absent on CREATE). */
function withNamespace(req: AdmissionRequest): unknown {
  const o = req.object;
  if (!isObject(o) || req.namespace === undefined || !isObject(o.metadata) || typeof o.metadata.namespace === "string")
    return o;
  return { ...o, metadata: { ...o.metadata, namespace: req.namespace } };
}

/** The namespace policy's verdict on an identity: a denial (Enforce) or warnings (Audit). */
function policyFindings(
  ctx: HandlerContext,
  ns: string,
  identity: AzureIdentity,
): { deny?: string; warnings: string[] } {
  const eff = effectivePolicy(ctx.state.namespaceLabels(ns), ctx.state.policies());
  const warnings: string[] = [];
  for (const v of identityViolations(eff, identity)) {
    const msg = messages.identityNotAllowed(identity, ns, v);
    if (v.enforcement === "Enforce") return { deny: msg, warnings };
    warnings.push(messages.audit(msg));
  }
  return { warnings };
}

function checkIdentity(req: AdmissionRequest, ctx: HandlerContext, p: Parsed<AzureIdentity>): Outcome {
  if (!p.ok) return invalid(req, "AzureIdentity", p.errors);
  const f = policyFindings(ctx, req.namespace ?? "", p.value);
  if (f.deny !== undefined)
    return { response: denied(req.uid, f.deny, 403, f.warnings), result: "denied", reason: "not-allowed" };
  return { response: allowed(req.uid, f.warnings), result: "allowed", reason: "valid" };
}

/** An entry with only a clientID pattern allows service principals only; say so, since it used to allow more. */
function policyWarnings(p: AzurePodIdentityPolicy): string[] {
  return (p.allowedIdentities ?? []).flatMap((a, i) =>
    a.resourceID === undefined
      ? [
          `AzurePodIdentityPolicy "${p.metadata.name}": spec.allowedIdentities[${i}] has only a clientID ` +
            `pattern, so it allows service principals only; allow managed identities by resourceID (their ` +
            `ClientID is what a tenant writes).`,
        ]
      : [],
  );
}

/** An exception hands its pods the node's IMDS: only where a cluster admin's policy lets it. */
function checkException(req: AdmissionRequest, ctx: HandlerContext): Outcome {
  const p = parseAzurePodIdentityException(withNamespace(req));
  if (!p.ok) return invalid(req, "AzurePodIdentityException", p.errors);
  const ns = req.namespace ?? "";
  const eff = effectivePolicy(ctx.state.namespaceLabels(ns), ctx.state.policies());
  if (!exceptionsAllowed(ns, eff))
    return {
      response: denied(req.uid, messages.exceptionNotAllowed(p.value.metadata.name, ns, eff.policies)),
      result: "denied",
      reason: "exception-not-allowed",
    };
  return { response: allowed(req.uid), result: "allowed", reason: "valid" };
}

const handlers: Record<string, (req: AdmissionRequest, ctx: HandlerContext) => Outcome> = {
  [KINDS.AzureIdentity.kind]: (req, ctx) => checkIdentity(req, ctx, parseAzureIdentity(withNamespace(req))),
  [KINDS.AzureIdentityBinding.kind]: (req, ctx) => {
    const p = parseAzureIdentityBinding(withNamespace(req));
    if (!p.ok) return invalid(req, "AzureIdentityBinding", p.errors);
    const ns = req.namespace ?? "";
    const warnings: string[] = [];
    const identity = ctx.state.identities(ns).find((i) => i.metadata.name === p.value.azureIdentity);
    if (identity === undefined)
      warnings.push(
        `AzureIdentityBinding "${p.value.metadata.name}": AzureIdentity "${p.value.azureIdentity}" ` +
          `does not exist in namespace "${ns}"; pods labelled ${BINDING_LABEL}=${p.value.selector} will ` +
          `be refused until it does.`,
      );
    else {
      // The policy may have changed since the identity was admitted.
      const f = policyFindings(ctx, ns, identity);
      if (f.deny !== undefined)
        return {
          response: denied(req.uid, `AzureIdentityBinding "${p.value.metadata.name}": ${f.deny}`, 403, f.warnings),
          result: "denied",
          reason: "not-allowed",
        };
      warnings.push(...f.warnings);
    }
    return { response: allowed(req.uid, warnings), result: "allowed", reason: "valid" };
  },
  [KINDS.AzurePodIdentityPolicy.kind]: (req) => {
    const p = parseAzurePodIdentityPolicy(req.object);
    if (!p.ok) return invalid(req, "AzurePodIdentityPolicy", p.errors);
    return { response: allowed(req.uid, policyWarnings(p.value)), result: "allowed", reason: "valid" };
  },
  [KINDS.AzurePodIdentityException.kind]: checkException,
};

export const validateResourceHandler: Handler = (req, ctx) => {
  // The route only calls this for the kinds above (app.ts); anything else is not judged here.
  const h = req.kind.group === GROUP ? handlers[req.kind.kind] : undefined;
  if (h === undefined || (req.operation !== "CREATE" && req.operation !== "UPDATE"))
    return { response: allowed(req.uid), result: "allowed", reason: "other-operation" };
  return h(req, ctx);
};
