// AzurePodIdentityPolicy (cluster-scoped, new in podid): namespace policy set by cluster admins.
import { readNmiMode } from "./binding.ts";
import { Errors, describe, getField, isObject, readTop, type Obj } from "./read.ts";
import { readLabelSelector } from "./selector.ts";
import type {
  AllowedIdentity,
  AllowOrDeny,
  AzurePodIdentityPolicy,
  Enforcement,
  OnUnmatchedLabel,
  Parsed,
} from "./types.ts";

function readEnum<T extends string>(spec: Obj, name: string, allowed: readonly T[], dflt: T, errs: Errors): T {
  const v = getField(spec, name);
  if (v === undefined || v === null || v === "") return dflt;
  const found = typeof v === "string" ? allowed.find((a) => a.toLowerCase() === v.toLowerCase()) : undefined;
  if (found === undefined) {
    errs.add(`spec.${name}`, `expected ${allowed.join(" or ")}, got ${describe(v)}`);
    return dflt;
  }
  return found;
}

function readPattern(entry: Obj, name: string, path: string, errs: Errors): string | undefined {
  const v = getField(entry, name);
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") {
    errs.add(path, `expected a pattern string (\`*\` matches any characters), got ${describe(v)}`);
    return undefined;
  }
  return v.trim();
}

function readAllowed(spec: Obj, errs: Errors): AllowedIdentity[] | undefined {
  const v = getField(spec, "allowedIdentities");
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    errs.add("spec.allowedIdentities", `expected a list of {resourceID, clientID} patterns, got ${describe(v)}`);
    return undefined;
  }
  const out: AllowedIdentity[] = [];
  v.forEach((entry, i) => {
    const path = `spec.allowedIdentities[${i}]`;
    if (!isObject(entry)) {
      errs.add(path, `expected an object with resourceID and/or clientID, got ${describe(entry)}`);
      return;
    }
    const a: AllowedIdentity = {};
    const rid = readPattern(entry, "resourceID", `${path}.resourceID`, errs);
    const cid = readPattern(entry, "clientID", `${path}.clientID`, errs);
    if (rid !== undefined) a.resourceID = rid;
    if (cid !== undefined) a.clientID = cid;
    if (rid === undefined && cid === undefined) errs.add(path, "expected resourceID and/or clientID");
    else out.push(a);
  });
  return out;
}

export function parseAzurePodIdentityPolicy(obj: unknown): Parsed<AzurePodIdentityPolicy> {
  const errs = new Errors();
  const top = readTop(obj, "AzurePodIdentityPolicy", errs);
  if (top === undefined) return { ok: false, errors: errs.list };
  const { meta, spec } = top;
  const value: AzurePodIdentityPolicy = {
    metadata: meta,
    namespaceSelector: readLabelSelector(getField(spec, "namespaceSelector"), "spec.namespaceSelector", errs),
    onUnmatchedLabel: readEnum<OnUnmatchedLabel>(spec, "onUnmatchedLabel", ["Deny", "Warn"], "Deny", errs),
    enforcement: readEnum<Enforcement>(spec, "enforcement", ["Enforce", "Audit"], "Enforce", errs),
    unlistedIdentities: readEnum<AllowOrDeny>(spec, "unlistedIdentities", ["Allow", "Deny"], "Allow", errs),
  };
  if (getField(spec, "exceptions") !== undefined && getField(spec, "exceptions") !== null)
    value.exceptions = readEnum<AllowOrDeny>(spec, "exceptions", ["Allow", "Deny"], "Deny", errs);
  const allowed = readAllowed(spec, errs);
  if (allowed !== undefined) value.allowedIdentities = allowed;
  const mode = readNmiMode(spec, "spec.nmiMode", errs);
  if (mode !== undefined) value.nmiMode = mode;
  return errs.result(value);
}
