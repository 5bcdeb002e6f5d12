// podid's kinds as `podid migrate` holds them: parsed once by the programs' parsers, the raw
// object kept by kind, namespace and name (copies are written as the originals are spelled),
// and what the parsers refused, with their reasons.
import type { PodidKind } from "../model/constants.ts";
import {
  formatErrors,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import { isObject, type Obj } from "../model/read.ts";
import type {
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
  Parsed,
} from "../model/types.ts";
import type { MigrateInput } from "./gather.ts";

export const meta = (o: Obj): Obj => (isObject(o.metadata) ? o.metadata : {});
const text = (v: unknown): string => (typeof v === "string" ? v : "");
export const nameOf = (o: Obj): string => text(meta(o).name);
export const nsOf = (o: Obj): string => text(meta(o).namespace);
export const rawKey = (kind: string, ns: string, name: string): string => `${kind}/${ns}/${name}`;

export interface ParsedObjects {
  identities: AzureIdentity[];
  bindings: AzureIdentityBinding[];
  exceptions: AzurePodIdentityException[];
  policies: AzurePodIdentityPolicy[];
  raw: Map<string, Obj>;
  invalid: Array<{ kind: PodidKind; namespace: string; name: string; problem: string }>;
}

export function parseAll(input: MigrateInput): ParsedObjects {
  const out: ParsedObjects = {
    identities: [],
    bindings: [],
    exceptions: [],
    policies: [],
    raw: new Map(),
    invalid: [],
  };
  const take = <T>(kind: PodidKind, parse: (o: unknown) => Parsed<T>, into: T[]): void => {
    for (const o of input.objects[kind]) {
      out.raw.set(rawKey(kind, nsOf(o), nameOf(o)), o);
      const p = parse(o);
      if (p.ok) into.push(p.value);
      else out.invalid.push({ kind, namespace: nsOf(o), name: nameOf(o), problem: formatErrors(p.errors) });
    }
  };
  take("AzureIdentity", parseAzureIdentity, out.identities);
  take("AzureIdentityBinding", parseAzureIdentityBinding, out.bindings);
  take("AzurePodIdentityException", parseAzurePodIdentityException, out.exceptions);
  take("AzurePodIdentityPolicy", parseAzurePodIdentityPolicy, out.policies);
  return out;
}
