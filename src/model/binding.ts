// AzureIdentityBinding: pods labelled `aadpodidbinding: <Selector>` get the named AzureIdentity.
import { NMI_MODES, type NmiMode } from "./constants.ts";
import { Errors, LABEL_VALUE, OBJECT_NAME, describe, getField, readString, readTop, type Obj } from "./read.ts";
import type { AzureIdentityBinding, Parsed } from "./types.ts";

/** An optional `nmiMode` field (daemonset | sidecar), read case-insensitively. */
export function readNmiMode(spec: Obj, path: string, errs: Errors): NmiMode | undefined {
  const v = getField(spec, "nmiMode");
  if (v === undefined || v === null || v === "") return undefined;
  const mode = typeof v === "string" ? NMI_MODES.find((m) => m === v.toLowerCase()) : undefined;
  if (mode === undefined) errs.add(path, `expected one of ${NMI_MODES.join(", ")}, got ${describe(v)}`);
  return mode;
}

export function parseAzureIdentityBinding(obj: unknown): Parsed<AzureIdentityBinding> {
  const errs = new Errors();
  const top = readTop(obj, "AzureIdentityBinding", errs);
  if (top === undefined) return { ok: false, errors: errs.list };
  const { meta, spec } = top;
  const azureIdentity = readString(spec, "AzureIdentity", "spec.AzureIdentity", errs, true) ?? "";
  if (azureIdentity !== "" && !OBJECT_NAME.test(azureIdentity))
    errs.add(
      "spec.AzureIdentity",
      `expected the name of an AzureIdentity (lower-case DNS name), got "${azureIdentity}"`,
    );
  const selector = readString(spec, "Selector", "spec.Selector", errs, true) ?? "";
  if (selector !== "" && !LABEL_VALUE.test(selector))
    errs.add(
      "spec.Selector",
      `expected a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending ` +
        `with a letter or digit), got "${selector}"`,
    );
  const value: AzureIdentityBinding = { metadata: meta, azureIdentity, selector };
  const mode = readNmiMode(spec, "spec.nmiMode", errs);
  if (mode !== undefined) value.nmiMode = mode;
  return errs.result(value);
}
