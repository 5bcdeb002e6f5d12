// A real Prometheus (Debian's package) scraping podid's programs in the playground, with
// podid's rules loaded, so what an operator would see is there to look at and to test. It
// reaches nothing but loopback: the scrape config is generated with static targets only (no
// service discovery), every target is checked to be in 127.0.0.0/8, there is no alerting or
// remote-write section, it listens on 127.0.0.1 and keeps its storage in a temporary folder
// that goes when it stops.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { freePort } from "./free-port.ts";
import { prometheusBinary } from "./prometheus-bin.ts";
import { spawnProgram, waitReady, type ProgramHandle } from "./processes.ts";

export const PODID_RULES_FILE = fileURLToPath(new URL("../../config/prometheus/podid.rules.yaml", import.meta.url));

export interface ScrapeJob {
  /** The job name podid.rules.yaml expects: podid-webhook, podid-reconciler, podid-nmi. */
  job: string;
  /** host:port, each on a loopback address. */
  targets: string[];
  scheme?: "http" | "https";
  /** PEM of the CA that signed an https target's certificate. */
  caPem?: string;
}

export interface PrometheusOptions {
  jobs: ScrapeJob[];
  logDir: string;
  /** Scrape and rule evaluation interval (default 5 s: a playground's life is short). */
  intervalSeconds?: number;
  rulesFile?: string;
}

export interface RunningPrometheus {
  url: string;
  configFile: string;
  process: ProgramHandle;
  stop(): Promise<void>;
}

/** Refuses any target that is not on 127.0.0.0/8: the playground dials nothing else. */
export function assertLoopbackTarget(target: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d{1,5})$/.exec(target);
  if (m === null || m[1] !== "127" || m.slice(2, 5).some((o) => Number(o) > 255))
    throw new Error(`Prometheus target ${JSON.stringify(target)}: expected <127.x.y.z>:<port> (loopback only)`);
}

/** The generated prometheus.yml: static loopback targets and podid's rules, nothing else. */
export function scrapeConfig(o: PrometheusOptions, dir: string): Record<string, unknown> {
  const interval = `${o.intervalSeconds ?? 5}s`;
  return {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: [o.rulesFile ?? PODID_RULES_FILE],
    scrape_configs: o.jobs.map((j) => {
      for (const t of j.targets) assertLoopbackTarget(t);
      let tls: Record<string, unknown> | undefined;
      if (j.caPem !== undefined) {
        const caFile = join(dir, `${j.job}-ca.pem`);
        writeFileSync(caFile, j.caPem);
        tls = { tls_config: { ca_file: caFile } };
      }
      return {
        job_name: j.job,
        scheme: j.scheme ?? "http",
        static_configs: [{ targets: j.targets }],
        ...tls,
      };
    }),
  };
}

export async function startPrometheus(o: PrometheusOptions): Promise<RunningPrometheus> {
  const bin = prometheusBinary("prometheus");
  const dir = mkdtempSync(join(tmpdir(), "podid-prometheus-"));
  const configFile = join(dir, "prometheus.yml");
  writeFileSync(configFile, stringify(scrapeConfig(o, dir)));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const process = spawnProgram({
    name: "prometheus",
    command: bin,
    logDir: o.logDir,
    args: [
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      "--storage.tsdb.retention.time=1d",
      "--log.level=warn",
    ],
  });
  const stop = async (): Promise<void> => {
    await process.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(process, `${url}/-/ready`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, configFile, process, stop };
}

/** Prometheus's HTTP API: the `data` of a successful answer, or an error with its message. */
export async function prometheusApi<T>(base: string, path: string, query: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${base}/api/v1/${path}?${new URLSearchParams(query).toString()}`);
  const body = (await res.json()) as { status: string; data?: T; error?: string };
  if (body.status !== "success" || body.data === undefined)
    throw new Error(`Prometheus /api/v1/${path}: ${body.error ?? res.statusText}`);
  return body.data;
}
