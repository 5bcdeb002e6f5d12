// The manifests that fix a selector bound only in other namespaces: copies, in the pod's
// namespace, of every binding of that selector elsewhere and of the identity each names (or,
// for a binding of the pod's namespace whose identity lives elsewhere, of that identity),
// spelled as the originals are and annotated with where they came from. A copy whose name is
// taken in the pod's namespace by a different object is not made: it would bind the selector
// to something else.
import { API_VERSION, KINDS, MIGRATE } from "../model/constants.ts";
import { isObject, type Obj } from "../model/read.ts";
import type { AzureIdentity, AzureIdentityBinding } from "../model/types.ts";
import { rawKey, type ParsedObjects } from "./objects.ts";

export interface Copy {
  /** `<namespace>/<name>` of the original. */
  from: string;
  manifest: Obj;
  identity?: AzureIdentity;
  binding?: AzureIdentityBinding;
}

function manifest(kind: string, original: Obj | undefined, namespace: string, name: string, from: string): Obj {
  const meta = isObject(original?.metadata) ? original.metadata : {};
  const labels = isObject(meta.labels) ? meta.labels : undefined;
  return {
    apiVersion: API_VERSION,
    kind,
    metadata: {
      name,
      namespace,
      ...(labels !== undefined ? { labels } : {}),
      annotations: { [MIGRATE.copiedFromAnnotation]: from },
    },
    spec: isObject(original?.spec) ? original.spec : {},
  };
}

const sameIdentity = (a: AzureIdentity, b: AzureIdentity): boolean =>
  a.clientID === b.clientID && (a.resourceID ?? "").toLowerCase() === (b.resourceID ?? "").toLowerCase();

/** The identity a binding of `ns` names: in its own namespace, else (AAD Pod Identity's lookup by name) any other. */
function identityFor(p: ParsedObjects, ns: string, name: string): AzureIdentity | undefined {
  const named = p.identities.filter((i) => i.metadata.name === name);
  return named.find((i) => i.metadata.namespace === ns) ?? named.sort((a, b) => nsOf(a).localeCompare(nsOf(b)))[0];
}
const nsOf = (o: { metadata: { namespace?: string } }): string => o.metadata.namespace ?? "";

function copyIdentity(p: ParsedObjects, target: string, identity: AzureIdentity): Copy | undefined {
  const existing = p.identities.find((i) => nsOf(i) === target && i.metadata.name === identity.metadata.name);
  if (existing !== undefined) return undefined; // used as it is (a different one with that name is a conflict the re-decision shows)
  const from = `${nsOf(identity)}/${identity.metadata.name}`;
  const raw = p.raw.get(rawKey("AzureIdentity", nsOf(identity), identity.metadata.name));
  return {
    from,
    manifest: manifest(KINDS.AzureIdentity.kind, raw, target, identity.metadata.name, from),
    identity: { ...identity, metadata: { ...identity.metadata, namespace: target } },
  };
}

function copyBinding(p: ParsedObjects, target: string, b: AzureIdentityBinding): Copy[] | undefined {
  if (p.bindings.some((x) => nsOf(x) === target && x.metadata.name === b.metadata.name)) return undefined;
  const identity = identityFor(p, nsOf(b), b.azureIdentity);
  if (identity === undefined) return undefined;
  const taken = p.identities.find((i) => nsOf(i) === target && i.metadata.name === identity.metadata.name);
  if (taken !== undefined && !sameIdentity(taken, identity)) return undefined;
  const from = `${nsOf(b)}/${b.metadata.name}`;
  const raw = p.raw.get(rawKey("AzureIdentityBinding", nsOf(b), b.metadata.name));
  const binding: Copy = {
    from,
    manifest: manifest(KINDS.AzureIdentityBinding.kind, raw, target, b.metadata.name, from),
    binding: { ...b, metadata: { ...b.metadata, namespace: target } },
  };
  const id = copyIdentity(p, target, identity);
  return id === undefined ? [binding] : [id, binding];
}

export function copyFor(target: string, selector: string, p: ParsedObjects): Copy[] {
  const here = p.bindings.filter((b) => nsOf(b) === target && b.selector === selector);
  if (here.length > 0) {
    // Bound here, to an identity of another namespace: copy the identity.
    const missing = here.filter(
      (b) => !p.identities.some((i) => nsOf(i) === target && i.metadata.name === b.azureIdentity),
    );
    return missing.flatMap((b) => {
      const identity = identityFor(p, target, b.azureIdentity);
      const c = identity !== undefined ? copyIdentity(p, target, identity) : undefined;
      return c === undefined ? [] : [c];
    });
  }
  const elsewhere = p.bindings
    .filter((b) => nsOf(b) !== target && b.selector === selector)
    .sort((a, b) => `${nsOf(a)}/${a.metadata.name}`.localeCompare(`${nsOf(b)}/${b.metadata.name}`));
  const seen = new Set<string>();
  const out: Copy[] = [];
  for (const b of elsewhere) {
    for (const c of copyBinding(p, target, b) ?? []) {
      const key = `${String(c.manifest.kind)}/${String((c.manifest.metadata as Obj).name)}`;
      if (!seen.has(key)) out.push(c);
      seen.add(key);
    }
  }
  return out;
}
