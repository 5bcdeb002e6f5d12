// `podid migrate --apply`: creates the fixing manifests. Creating, never replacing: an object
// that exists already (made since the report, or by hand) is left as it is and said so.
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, KINDS, VERSION } from "../model/constants.ts";
import type { Obj } from "../model/read.ts";
import { isAlreadyExists, kubeRequest, resourcePath } from "../kube/request.ts";
import { nameOf, nsOf } from "./objects.ts";

export interface Applied {
  object: string;
  result: "created" | "exists";
}

const pluralOf = (kind: unknown): string => {
  const k = Object.values(KINDS).find((x) => x.kind === kind);
  if (k === undefined) throw new Error(`podid migrate writes only podid's kinds, got ${String(kind)}`);
  return k.plural;
};

export async function applyManifests(kc: KubeConfig, objects: readonly Obj[]): Promise<Applied[]> {
  const out: Applied[] = [];
  for (const o of objects) {
    const plural = pluralOf(o.kind);
    const object = `${plural}.${GROUP}/${nsOf(o)}/${nameOf(o)}`;
    try {
      await kubeRequest(kc, {
        method: "POST",
        path: resourcePath({ group: GROUP, version: VERSION, plural, namespace: nsOf(o) }),
        body: o,
      });
      out.push({ object, result: "created" });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      out.push({ object, result: "exists" });
    }
  }
  return out;
}
