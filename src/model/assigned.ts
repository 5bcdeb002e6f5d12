// AzureAssignedIdentity: written by the reconciler, one per (pod, identity), read by the NMI.
import { TOKEN_SOURCES } from "./constants.ts";
import { Errors, describe, getField, readObject, readString, readTop, type Obj } from "./read.ts";
import type { AssignedIdentityState, AzureAssignedIdentity, AzureAssignedIdentityStatus, Parsed } from "./types.ts";

const STATES: readonly AssignedIdentityState[] = ["Created", "Assigned", "Failed"];

function req(o: Obj, name: string, path: string, errs: Errors): string {
  return readString(o, name, `${path}.${name}`, errs, true) ?? "";
}

function readIdentityRef(spec: Obj, errs: Errors): AzureAssignedIdentity["spec"]["azureIdentityRef"] {
  const path = "spec.azureIdentityRef";
  const o = readObject(spec, "azureIdentityRef", path, errs, true) ?? {};
  const t = getField(o, "type") ?? 0;
  if (t !== 0 && t !== 1 && t !== 2) errs.add(`${path}.type`, `expected 0, 1 or 2, got ${describe(t)}`);
  const ref: AzureAssignedIdentity["spec"]["azureIdentityRef"] = {
    name: req(o, "name", path, errs),
    namespace: req(o, "namespace", path, errs),
    type: t === 1 || t === 2 ? t : 0,
    clientID: (readString(o, "clientID", `${path}.clientID`, errs, false) ?? "").toLowerCase(),
  };
  const rid = readString(o, "resourceID", `${path}.resourceID`, errs, false);
  if (rid !== undefined) ref.resourceID = rid;
  return ref;
}

function readStatus(top: Obj, errs: Errors): AzureAssignedIdentityStatus | undefined {
  const s = readObject(top, "status", "status", errs, false);
  if (s === undefined || getField(s, "status") === undefined) return undefined;
  const state = getField(s, "status");
  const found = STATES.find((x) => x === state);
  if (found === undefined) {
    errs.add("status.status", `expected ${STATES.join(", ")}, got ${describe(state)}`);
    return undefined;
  }
  const out: AzureAssignedIdentityStatus = { status: found };
  for (const k of ["reason", "message", "target"] as const) {
    const v = readString(s, k, `status.${k}`, errs, false);
    if (v !== undefined) out[k] = v;
  }
  const source = getField(s, "tokenSource");
  if (source !== undefined && source !== null) {
    const t = TOKEN_SOURCES.find((x) => x === source);
    if (t === undefined)
      errs.add("status.tokenSource", `expected ${TOKEN_SOURCES.join(" or ")}, got ${describe(source)}`);
    else out.tokenSource = t;
  }
  const g = getField(s, "observedGeneration");
  if (typeof g === "number") out.observedGeneration = g;
  return out;
}

export function parseAzureAssignedIdentity(obj: unknown): Parsed<AzureAssignedIdentity> {
  const errs = new Errors();
  const top = readTop(obj, "AzureAssignedIdentity", errs);
  if (top === undefined) return { ok: false, errors: errs.list };
  const { meta, spec } = top;
  const pod = req(spec, "pod", "spec", errs);
  const podNamespace = req(spec, "podNamespace", "spec", errs);
  const podUID = readString(spec, "podUID", "spec.podUID", errs, false) ?? "";
  const nodeName = req(spec, "nodeName", "spec", errs);
  const azureIdentityRef = readIdentityRef(spec, errs);
  const b = readObject(spec, "azureBindingRef", "spec.azureBindingRef", errs, true) ?? {};
  const azureBindingRef = {
    name: req(b, "name", "spec.azureBindingRef", errs),
    namespace: req(b, "namespace", "spec.azureBindingRef", errs),
    selector: req(b, "selector", "spec.azureBindingRef", errs),
  };
  const value: AzureAssignedIdentity = {
    metadata: meta,
    spec: { pod, podNamespace, podUID, nodeName, azureIdentityRef, azureBindingRef },
  };
  const status = readStatus(top.top, errs);
  if (status !== undefined) value.status = status;
  return errs.result(value);
}
