// config/prometheus: the rules pass `promtool check rules`, and promtool's unit tests
// (test/prometheus/podid.rules.test.yaml) prove every alert fires on the series that should
// trigger it and none on a quiet cluster. The PrometheusRule carries the same groups as the
// plain rules file, the PodMonitors and the PrometheusRule validate against prometheus-operator's
// schemas, every metric a rule reads is one podid exposes, and every alert has a runbook.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PodMonitor, PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { parse } from "yaml";
import { METRICS } from "../../../src/model/constants.ts";
import { promtool } from "../../../src/playground/prometheus-bin.ts";
import { renderKustomization } from "../../../src/playground/install.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const RULES = `${root}config/prometheus/podid.rules.yaml`;
const TESTS = `${root}test/prometheus/podid.rules.test.yaml`;

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface RuleTests {
  tests: Array<{ name: string; alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

const rules = (): Rule[] => (parse(readFileSync(RULES, "utf8")) as RuleFile).groups.flatMap((g) => g.rules);
const alerts = (): Rule[] => rules().filter((r) => r.alert !== undefined);

/** Metric names an expression reads (not recording rules, functions, label names or keywords). */
function metricsRead(expr: string): string[] {
  const noStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, "{}");
  const words = noStrings.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((w) => /^podid_|^apiserver_|^up$/.test(w)))];
}

describe("config/prometheus (rules, PrometheusRule, PodMonitors)", function () {
  this.timeout(60_000);

  it("passes promtool check rules", async () => {
    const r = await promtool(["check", "rules", RULES]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  });

  it("passes its promtool unit tests: each alert fires when it should, none on a quiet cluster", async () => {
    const r = await promtool(["test", "rules", TESTS]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it("has, for every alert, a unit test in which it fires and the quiet cluster in which it does not", () => {
    const t = parse(readFileSync(TESTS, "utf8")) as RuleTests;
    const evals = t.tests.flatMap((x) => x.alert_rule_test.map((a) => ({ test: x.name, ...a })));
    const quiet = t.tests.find((x) => /quiet cluster/.test(x.name));
    assert.ok(quiet, "no quiet-cluster test");
    for (const a of alerts()) {
      assert.ok(
        evals.some((e) => e.alertname === a.alert && e.exp_alerts.length > 0),
        `no test expects ${a.alert} to fire`,
      );
      assert.ok(
        quiet.alert_rule_test.some((e) => e.alertname === a.alert && e.exp_alerts.length === 0),
        `the quiet cluster does not check ${a.alert}`,
      );
    }
  });

  it("reads only metrics podid exposes (and the API server's and Prometheus's own)", () => {
    const known = new Set<string>(Object.values(METRICS));
    const series = (m: string): string => m.replace(/_(bucket|sum|count)$/, "");
    for (const r of rules())
      for (const m of metricsRead(r.expr).filter((x) => x.startsWith("podid_")))
        assert.ok(
          known.has(m) || known.has(series(m)),
          `${r.alert ?? r.record} reads ${m}, which podid does not expose`,
        );
  });

  it("gives every alert a severity and a runbook section that exists in docs/runbooks.md", () => {
    const runbook = readFileSync(`${root}docs/runbooks.md`, "utf8");
    const anchors = new Set(
      [...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, "")
          .replace(/ /g, "-"),
      ),
    );
    for (const a of alerts()) {
      assert.match(a.labels?.severity ?? "", /^(critical|warning)$/, `${a.alert} has no severity`);
      const url = a.annotations?.runbook_url ?? "";
      assert.equal(url, `docs/runbooks.md#${a.alert!.toLowerCase()}`, `${a.alert}'s runbook_url`);
      assert.ok(anchors.has(a.alert!.toLowerCase()), `docs/runbooks.md has no section ${a.alert}`);
    }
  });

  it("ships the same groups in the PrometheusRule as in the plain rules file, and valid PodMonitors", async () => {
    const objects = await renderKustomization(`${root}config/prometheus`);
    const rule = objects.find((o) => o.kind === "PrometheusRule");
    assert.ok(rule, "config/prometheus renders no PrometheusRule");
    assert.deepEqual((rule as unknown as { spec: unknown }).spec, parse(readFileSync(RULES, "utf8")));
    new PrometheusRule(rule as never).validate();
    const monitors = objects.filter((o) => o.kind === "PodMonitor");
    assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), [
      "podid-nmi",
      "podid-nmi-sidecar",
      "podid-reconciler",
      "podid-webhook",
    ]);
    for (const m of monitors) {
      new PodMonitor(m as never).validate();
      type Relabel = { targetLabel?: string; replacement?: string; sourceLabels?: string[] };
      const relabel = (m as unknown as { spec: { podMetricsEndpoints: Array<{ relabelings: Relabel[] }> } }).spec
        .podMetricsEndpoints[0]!.relabelings;
      assert.ok(
        relabel.some(
          (r) => r.targetLabel === "job" && r.replacement === m.metadata.name && r.sourceLabels === undefined,
        ),
        `${m.metadata.name} does not name its job as the rules expect`,
      );
    }
  });
});
