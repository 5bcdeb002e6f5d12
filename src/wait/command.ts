// `podid wait`: the init container the webhook adds to pods annotated
// aadpodidentity.k8s.io/wait-for-identity, so the app's containers start only once its
// identity answers (AAD Pod Identity's #738: the app's first token request failed while the
// assignment was still running). Flags only; the loop is in wait.ts, the decisions in decide.ts.
import { Command, InvalidArgumentError } from "commander";
import { DEFAULTS, ENV, WAIT } from "../model/constants.ts";
import { parseWaitDuration, parseWaitIdentity, type WaitIdentity } from "./decide.ts";

interface Flags {
  identity: WaitIdentity[];
  endpoint?: string;
  timeout: number;
  resource: string;
  sidecar: boolean;
}

const identity = (v: string, acc: WaitIdentity[]): WaitIdentity[] => {
  try {
    return [...acc, parseWaitIdentity(v)];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

const duration = (v: string): number => {
  const d = parseWaitDuration(v);
  if (!d.ok) throw new InvalidArgumentError(`--timeout: ${d.message}`);
  return d.seconds;
};

function endpointOf(v: string | undefined): string {
  if (v === undefined || v === "")
    throw new Error(`--endpoint (or ${ENV.podIdentityAuthorityHost}, which podid's webhook sets) is required`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(
      `--endpoint: expected the NMI's URL such as http://10.240.0.4:${DEFAULTS.nmiPort}, got ${JSON.stringify(v)}`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new Error(`--endpoint: expected an http(s) URL, got ${JSON.stringify(v)}`);
  return v;
}

export function waitCommand(): Command {
  return new Command("wait")
    .description("block until the pod's identities answer through the NMI, or fail after a bounded time saying why")
    .option(
      "--identity <name:client-id>",
      "an identity of the pod to wait for; repeatable (default: its only one)",
      identity,
      [],
    )
    .option("--endpoint <url>", `the NMI as the pod reaches it (default $${ENV.podIdentityAuthorityHost})`)
    .option(
      "--timeout <duration>",
      `how long to wait, e.g. 300s or 5m (at most ${WAIT.maxTimeoutSeconds}s)`,
      duration,
      WAIT.defaultTimeoutSeconds,
    )
    .option("--resource <uri>", "the resource to ask a token for", WAIT.resource)
    .option("--sidecar", "sidecar mode: run the pod's NMI sidecar in this process and ask through it", false)
    .action(async (o: Flags) => {
      const [{ waitForIdentities }, sidecar] = await Promise.all([
        import("./wait.ts"),
        o.sidecar ? import("./sidecar.ts").then((m) => m.startSidecarForWait()) : Promise.resolve(undefined),
      ]);
      try {
        const endpoint = sidecar?.url ?? endpointOf(o.endpoint ?? process.env[ENV.podIdentityAuthorityHost]);
        const say = (l: string): void => void process.stderr.write(`${l}\n`);
        const r = await waitForIdentities(
          { endpoint, identities: o.identity, timeoutSeconds: o.timeout, resource: o.resource },
          { fetch, now: () => Date.now(), sleep: (ms) => new Promise((res) => setTimeout(res, ms)), say },
        );
        if (r.ok) say(`podid wait: ready after ${r.seconds.toFixed(1)}s`);
        else say(`podid wait: ${r.message}`);
        process.exitCode = r.ok ? 0 : 1;
      } finally {
        await sidecar?.close();
      }
    });
}
