// One parser per kind: validate, normalise, return a typed value or errors naming the field.
export { parseAzureIdentity, parseResourceId, resourceIdKey, tokenSourceOf } from "./identity.ts";
export { parseAzureIdentityBinding } from "./binding.ts";
export { parseAzurePodIdentityException } from "./exception.ts";
export { parseAzurePodIdentityPolicy } from "./policy.ts";
export { parseAzureAssignedIdentity } from "./assigned.ts";
export { readLabelSelector } from "./selector.ts";
export type { Parsed, FieldError } from "./types.ts";

/** "spec.ClientID: is required; spec.type: expected ..." — for logs and admission messages. */
export function formatErrors(errors: ReadonlyArray<{ field: string; message: string }>): string {
  return errors.map((e) => (e.field === "" ? e.message : `${e.field}: ${e.message}`)).join("; ");
}
