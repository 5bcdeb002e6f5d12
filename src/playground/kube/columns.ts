// Server-side printer columns for the built-in kinds, as the real server's table convertors
// define them (names, types and wide-only columns), so `kubectl get` prints the same headers.
import { asArray, getPath, isRecord, text, type KObject, type PrinterColumn } from "./types.ts";

/** k8s.io/apimachinery's HumanDuration: the `AGE` kubectl shows. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  const days = Math.floor(hours / 24) % 365;
  if (hours < 24 * 365 * 8) return days === 0 ? `${years}y` : `${years}y${days}d`;
  return `${years}y`;
}

export const age = (ts: unknown, now: number): string =>
  typeof ts === "string" && !Number.isNaN(Date.parse(ts)) ? humanDuration(now - Date.parse(ts)) : "<unknown>";

const ageColumn: PrinterColumn = {
  name: "Age",
  type: "string",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
  compute: (o, now) => age(o.metadata.creationTimestamp, now),
};

const col = (
  name: string,
  type: string,
  compute: (o: KObject, now: number) => unknown,
  priority = 0,
): PrinterColumn => ({
  name,
  type,
  priority,
  description: name,
  compute,
});

const count = (v: unknown): number => (Array.isArray(v) ? v.length : isRecord(v) ? Object.keys(v).length : 0);
const num = (o: KObject, path: string): number => {
  const v = getPath(o, path);
  return typeof v === "number" ? v : 0;
};
const str = (o: KObject, path: string, dflt = "<none>"): string => {
  const v = getPath(o, path);
  return typeof v === "string" && v !== "" ? v : dflt;
};

function podReady(o: KObject): string {
  const statuses = getPath(o, "status.containerStatuses");
  const containers = getPath(o, "spec.containers");
  const total = Array.isArray(containers) ? containers.length : 0;
  const ready = Array.isArray(statuses) ? statuses.filter((s) => isRecord(s) && s.ready === true).length : 0;
  return `${ready}/${total}`;
}

function podRestarts(o: KObject): number {
  const statuses = getPath(o, "status.containerStatuses");
  if (!Array.isArray(statuses)) return 0;
  return statuses.reduce(
    (n: number, s) => n + (isRecord(s) && typeof s.restartCount === "number" ? s.restartCount : 0),
    0,
  );
}

function podStatus(o: KObject): string {
  if (o.metadata.deletionTimestamp !== undefined) return "Terminating";
  return str(o, "status.reason", str(o, "status.phase", "Pending"));
}

function nodeStatus(o: KObject): string {
  const conds = getPath(o, "status.conditions");
  const ready = asArray(conds).find((c) => isRecord(c) && c.type === "Ready");
  return isRecord(ready) && ready.status === "True" ? "Ready" : "NotReady";
}

function nodeAddress(o: KObject, type: string): string {
  const addrs = getPath(o, "status.addresses");
  const a = asArray(addrs).find((x) => isRecord(x) && x.type === type);
  return isRecord(a) && typeof a.address === "string" ? a.address : "<none>";
}

const containerField = (o: KObject, field: string): string => {
  const cs = getPath(o, "spec.template.spec.containers");
  return Array.isArray(cs) ? cs.map((c) => (isRecord(c) ? String(c[field]) : "")).join(",") : "";
};

const BUILTIN: Record<string, PrinterColumn[]> = {
  pods: [
    col("Ready", "string", podReady),
    col("Status", "string", podStatus),
    col("Restarts", "string", (o) => String(podRestarts(o))),
    ageColumn,
    col("IP", "string", (o) => str(o, "status.podIP"), 1),
    col("Node", "string", (o) => str(o, "spec.nodeName"), 1),
    col("Nominated Node", "string", (o) => str(o, "status.nominatedNodeName"), 1),
    col("Readiness Gates", "string", () => "<none>", 1),
  ],
  namespaces: [col("Status", "string", (o) => str(o, "status.phase", "Active")), ageColumn],
  nodes: [
    col("Status", "string", nodeStatus),
    col("Roles", "string", () => "<none>"),
    ageColumn,
    col("Version", "string", (o) => str(o, "status.nodeInfo.kubeletVersion", "")),
    col("Internal-IP", "string", (o) => nodeAddress(o, "InternalIP"), 1),
    col("External-IP", "string", (o) => nodeAddress(o, "ExternalIP"), 1),
    col("OS-Image", "string", (o) => str(o, "status.nodeInfo.osImage", "<unknown>"), 1),
    col("Kernel-Version", "string", (o) => str(o, "status.nodeInfo.kernelVersion", "<unknown>"), 1),
    col("Container-Runtime", "string", (o) => str(o, "status.nodeInfo.containerRuntimeVersion", "<unknown>"), 1),
  ],
  configmaps: [col("Data", "integer", (o) => count(o.data) + count(o.binaryData)), ageColumn],
  secrets: [
    col("Type", "string", (o) => str(o, "type", "Opaque")),
    col("Data", "integer", (o) => count(o.data)),
    ageColumn,
  ],
  serviceaccounts: [col("Secrets", "integer", (o) => count(o.secrets)), ageColumn],
  services: [
    col("Type", "string", (o) => str(o, "spec.type", "ClusterIP")),
    col("Cluster-IP", "string", (o) => str(o, "spec.clusterIP")),
    col("External-IP", "string", () => "<none>"),
    col("Port(s)", "string", (o) => {
      const ports = getPath(o, "spec.ports");
      return Array.isArray(ports)
        ? ports.map((p) => (isRecord(p) ? `${String(p.port)}/${text(p.protocol) || "TCP"}` : "")).join(",")
        : "<none>";
    }),
    ageColumn,
  ],
  events: [
    col("Last Seen", "string", (o, now) => age(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp, now)),
    col("Type", "string", (o) => str(o, "type", "")),
    col("Reason", "string", (o) => str(o, "reason", "")),
    col(
      "Object",
      "string",
      (o) => `${str(o, "involvedObject.kind", "").toLowerCase()}/${str(o, "involvedObject.name", "")}`,
    ),
    col("Message", "string", (o) => str(o, "message", "")),
  ],
  "deployments.apps": [
    col("Ready", "string", (o) => `${num(o, "status.readyReplicas")}/${num(o, "spec.replicas")}`),
    col("Up-to-date", "integer", (o) => num(o, "status.updatedReplicas")),
    col("Available", "integer", (o) => num(o, "status.availableReplicas")),
    ageColumn,
    col("Containers", "string", (o) => containerField(o, "name"), 1),
    col("Images", "string", (o) => containerField(o, "image"), 1),
  ],
  "replicasets.apps": [
    col("Desired", "integer", (o) => num(o, "spec.replicas")),
    col("Current", "integer", (o) => num(o, "status.replicas")),
    col("Ready", "integer", (o) => num(o, "status.readyReplicas")),
    ageColumn,
  ],
  "customresourcedefinitions.apiextensions.k8s.io": [col("Created At", "date", (o) => o.metadata.creationTimestamp)],
  "leases.coordination.k8s.io": [col("Holder", "string", (o) => str(o, "spec.holderIdentity", "")), ageColumn],
  "mutatingwebhookconfigurations.admissionregistration.k8s.io": [
    col("Webhooks", "integer", (o) => count(o.webhooks)),
    ageColumn,
  ],
  "validatingwebhookconfigurations.admissionregistration.k8s.io": [
    col("Webhooks", "integer", (o) => count(o.webhooks)),
    ageColumn,
  ],
};

export function builtinColumns(key: string): PrinterColumn[] {
  return BUILTIN[key] ?? [ageColumn];
}

export const DEFAULT_COLUMNS: PrinterColumn[] = [ageColumn];
