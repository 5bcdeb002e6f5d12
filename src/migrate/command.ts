// `podid migrate`: reads a cluster that runs AAD Pod Identity and reports, per namespace, what
// podid would refuse, with the manifests that fix what can be fixed (per-namespace copies of
// identities and bindings matched across namespaces). Exit 0 only when nothing would break;
// --apply creates the manifests and reports again. Flags only; the rest loads when it runs.
import { Command, Option } from "commander";

interface Flags {
  kubeconfig?: string;
  output: "text" | "json" | "yaml";
  apply: boolean;
  namespace?: string;
}

export function migrateCommand(): Command {
  return new Command("migrate")
    .description(
      "report what podid would refuse in a cluster running AAD Pod Identity, per namespace, with the manifests that fix it",
    )
    .option("--kubeconfig <file>", "kubeconfig (default: in-cluster, then $KUBECONFIG or ~/.kube/config)")
    .addOption(
      new Option("-o, --output <format>", "text (report and manifests), json (report) or yaml (manifests only)")
        .choices(["text", "json", "yaml"])
        .default("text"),
    )
    .option("-n, --namespace <ns>", "report only this namespace (every namespace is still read)")
    .option("--apply", "create the fixing manifests, then report again", false)
    .action(async (o: Flags) => {
      const [{ loadKubeConfig }, { gatherMigrateInput }, { planMigration }, render, { applyManifests }] =
        await Promise.all([
          import("../kube/config.ts"),
          import("./gather.ts"),
          import("./plan.ts"),
          import("./render.ts"),
          import("./apply.ts"),
        ]);
      const kc = loadKubeConfig(o.kubeconfig);
      const only = (r: ReturnType<typeof planMigration>) =>
        o.namespace === undefined ? r : { ...r, namespaces: r.namespaces.filter((n) => n.namespace === o.namespace) };
      const breakingOf = (r: ReturnType<typeof planMigration>) =>
        r.namespaces.reduce((n, x) => n + x.findings.filter((f) => f.breaks).length, 0);
      let report = only(planMigration(await gatherMigrateInput(kc)));
      let applied: Awaited<ReturnType<typeof applyManifests>> | undefined;
      if (o.apply) {
        applied = await applyManifests(kc, render.manifestsOf(report));
        report = only(planMigration(await gatherMigrateInput(kc)));
      }
      report = { ...report, breaking: breakingOf(report) };
      if (o.output === "json") process.stdout.write(JSON.stringify({ ...report, applied }, null, 2) + "\n");
      else if (o.output === "yaml") process.stdout.write(render.renderYaml(render.manifestsOf(report)));
      else {
        for (const a of applied ?? [])
          process.stdout.write(`${a.object} ${a.result === "created" ? "created" : "exists (left as it is)"}\n`);
        if (applied !== undefined) process.stdout.write("\nAfter --apply:\n");
        process.stdout.write(render.renderReport(report));
      }
      process.exitCode = report.breaking === 0 ? 0 : 1;
    });
}
