// The migration report for a person: per namespace, what podid would refuse and how to fix
// it, then the fixing manifests as YAML (what --apply creates); and, for scripts, as JSON.
import { stringify } from "yaml";
import type { Obj } from "../model/read.ts";
import type { Finding, MigrationReport } from "./plan.ts";

const tag = (f: Finding): string => (f.breaks ? "[BREAKS]" : "[note]  ");

function lines(f: Finding): string[] {
  const out = [`  ${tag(f)} ${f.subject}: ${f.message}`];
  if (f.fix !== undefined) out.push(`           fix: ${f.fix}`);
  return out;
}

export function manifestsOf(r: MigrationReport): Obj[] {
  return r.namespaces.flatMap((n) => n.manifests);
}

export function renderYaml(objects: readonly Obj[]): string {
  return objects.map((o) => `---\n${stringify(o)}`).join("");
}

export function renderReport(r: MigrationReport): string {
  const out: string[] = [];
  const breaking = r.namespaces.filter((n) => n.findings.some((f) => f.breaks)).length;
  out.push(
    r.breaking === 0
      ? "podid migrate: nothing podid would refuse."
      : `podid migrate: ${r.breaking} thing${r.breaking === 1 ? "" : "s"} podid would refuse, in ${breaking} namespace${breaking === 1 ? "" : "s"}.`,
  );
  for (const n of r.namespaces) {
    out.push("", `namespace ${n.namespace}`);
    for (const f of n.findings) out.push(...lines(f));
  }
  if (r.cluster.length > 0) {
    out.push("", "cluster");
    for (const f of r.cluster) out.push(...lines(f));
  }
  const manifests = manifestsOf(r);
  if (manifests.length > 0) {
    out.push("", `Manifests that fix the cross-namespace findings (podid migrate --apply creates them):`);
    out.push(renderYaml(manifests).trimEnd());
  }
  return out.join("\n") + "\n";
}
