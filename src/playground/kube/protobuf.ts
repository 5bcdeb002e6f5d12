// kubectl's typed clients (`kubectl create namespace|configmap|secret|serviceaccount|deployment|
// token`) send bodies as Kubernetes protobuf (`k8s\0` + runtime.Unknown) and never fall back to
// JSON. This decodes those few kinds into the JSON the rest of the server works with; other
// kinds get a 415 naming the kind. Field numbers are from k8s.io/api's generated.proto.
import { unsupportedMediaType } from "./status.ts";

type FieldType = "string" | "bytes" | "int" | "bool" | "time" | "map" | "mapBytes" | Schema;
interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
}
type Schema = Record<number, Field>;

const f = (name: string, type: FieldType, repeated = false): Field => ({ name, type, repeated });

const OWNER_REF: Schema = {
  1: f("kind", "string"),
  3: f("name", "string"),
  4: f("uid", "string"),
  5: f("apiVersion", "string"),
  6: f("controller", "bool"),
  7: f("blockOwnerDeletion", "bool"),
};
const META: Schema = {
  1: f("name", "string"),
  2: f("generateName", "string"),
  3: f("namespace", "string"),
  5: f("uid", "string"),
  6: f("resourceVersion", "string"),
  7: f("generation", "int"),
  8: f("creationTimestamp", "time"),
  11: f("labels", "map"),
  12: f("annotations", "map"),
  13: f("ownerReferences", OWNER_REF, true),
  14: f("finalizers", "string", true),
};
const LABEL_SELECTOR: Schema = {
  1: f("matchLabels", "map"),
  2: f("matchExpressions", { 1: f("key", "string"), 2: f("operator", "string"), 3: f("values", "string", true) }, true),
};
const CONTAINER_PORT: Schema = {
  1: f("name", "string"),
  2: f("hostPort", "int"),
  3: f("containerPort", "int"),
  4: f("protocol", "string"),
  5: f("hostIP", "string"),
};
const ENV_VAR: Schema = { 1: f("name", "string"), 2: f("value", "string") };
const CONTAINER: Schema = {
  1: f("name", "string"),
  2: f("image", "string"),
  3: f("command", "string", true),
  4: f("args", "string", true),
  5: f("workingDir", "string"),
  6: f("ports", CONTAINER_PORT, true),
  7: f("env", ENV_VAR, true),
  8: f("resources", {}),
  13: f("terminationMessagePath", "string"),
  14: f("imagePullPolicy", "string"),
};
const POD_SPEC: Schema = {
  2: f("containers", CONTAINER, true),
  3: f("restartPolicy", "string"),
  4: f("terminationGracePeriodSeconds", "int"),
  6: f("dnsPolicy", "string"),
  7: f("nodeSelector", "map"),
  8: f("serviceAccountName", "string"),
  11: f("hostNetwork", "bool"),
  20: f("initContainers", CONTAINER, true),
};
const POD_TEMPLATE: Schema = { 1: f("metadata", META), 2: f("spec", POD_SPEC) };

const KINDS: Record<string, Schema> = {
  "v1/Namespace": { 1: f("metadata", META), 2: f("spec", { 1: f("finalizers", "string", true) }) },
  "v1/ConfigMap": {
    1: f("metadata", META),
    2: f("data", "map"),
    3: f("binaryData", "mapBytes"),
    4: f("immutable", "bool"),
  },
  "v1/Secret": {
    1: f("metadata", META),
    2: f("data", "mapBytes"),
    3: f("type", "string"),
    4: f("stringData", "map"),
    5: f("immutable", "bool"),
  },
  "v1/ServiceAccount": {
    1: f("metadata", META),
    2: f("secrets", { 1: f("kind", "string"), 2: f("namespace", "string"), 3: f("name", "string") }, true),
    3: f("imagePullSecrets", { 1: f("name", "string") }, true),
    4: f("automountServiceAccountToken", "bool"),
  },
  "authentication.k8s.io/v1/TokenRequest": {
    1: f("metadata", META),
    2: f("spec", {
      1: f("audiences", "string", true),
      3: f("boundObjectRef", {
        1: f("kind", "string"),
        2: f("apiVersion", "string"),
        3: f("name", "string"),
        4: f("uid", "string"),
      }),
      4: f("expirationSeconds", "int"),
    }),
  },
  "authorization.k8s.io/v1/SelfSubjectAccessReview": {
    1: f("metadata", META),
    2: f("spec", {
      1: f("resourceAttributes", {
        1: f("namespace", "string"),
        2: f("verb", "string"),
        3: f("group", "string"),
        4: f("version", "string"),
        5: f("resource", "string"),
        6: f("subresource", "string"),
        7: f("name", "string"),
      }),
      2: f("nonResourceAttributes", { 1: f("path", "string"), 2: f("verb", "string") }),
    }),
  },
  "apps/v1/Deployment": {
    1: f("metadata", META),
    2: f("spec", {
      1: f("replicas", "int"),
      2: f("selector", LABEL_SELECTOR),
      3: f("template", POD_TEMPLATE),
      4: f("strategy", { 1: f("type", "string") }),
      5: f("minReadySeconds", "int"),
      6: f("revisionHistoryLimit", "int"),
      9: f("progressDeadlineSeconds", "int"),
    }),
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }
  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error("truncated field");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function mapEntry(buf: Buffer, bytesValue: boolean): [string, string] {
  const r = new Reader(buf);
  let key = "";
  let value = "";
  while (!r.done()) {
    const tag = r.varint();
    if (tag >> 3 === 1) key = r.bytes().toString("utf8");
    else if (tag >> 3 === 2) value = bytesValue ? r.bytes().toString("base64") : r.bytes().toString("utf8");
    else r.skip(tag & 7);
  }
  return [key, value];
}

function timeOf(buf: Buffer): string {
  const r = new Reader(buf);
  let seconds = 0;
  while (!r.done()) {
    const tag = r.varint();
    if (tag >> 3 === 1) seconds = r.varint();
    else r.skip(tag & 7);
  }
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function valueOf(field: Field, r: Reader, wire: number, out: Record<string, unknown>): unknown {
  const t = field.type;
  if (t === "int") return r.varint();
  if (t === "bool") return r.varint() !== 0;
  if (wire !== 2) throw new Error(`field ${field.name}: unexpected wire type ${wire}`);
  const b = r.bytes();
  if (t === "string") return b.toString("utf8");
  if (t === "bytes") return b.toString("base64");
  if (t === "time") return timeOf(b);
  if (t === "map" || t === "mapBytes") {
    const m = (out[field.name] as Record<string, string> | undefined) ?? {};
    const [k, v] = mapEntry(b, t === "mapBytes");
    m[k] = v;
    return m;
  }
  return decodeMessage(b, t);
}

function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.done()) {
    const tag = r.varint();
    const field = schema[Math.floor(tag / 8)];
    if (field === undefined) {
      r.skip(tag & 7);
      continue;
    }
    const v = valueOf(field, r, tag & 7, out);
    if (field.repeated === true) out[field.name] = [...((out[field.name] as unknown[] | undefined) ?? []), v];
    else out[field.name] = v;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a `application/vnd.kubernetes.protobuf` body into a JSON object. */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  const bad = (why: string): Error =>
    unsupportedMediaType(`application/vnd.kubernetes.protobuf (${why})`, [
      "application/json",
      "application/vnd.kubernetes.protobuf for Namespace, ConfigMap, Secret, ServiceAccount, TokenRequest, SelfSubjectAccessReview and Deployment",
    ]);
  if (!body.subarray(0, 4).equals(MAGIC)) throw bad("missing the k8s protobuf header");
  let unknown: Record<string, unknown>;
  let raw: Buffer | undefined;
  try {
    const r = new Reader(body.subarray(4));
    unknown = {};
    while (!r.done()) {
      const tag = r.varint();
      if (tag >> 3 === 1)
        unknown.typeMeta = decodeMessage(r.bytes(), { 1: f("apiVersion", "string"), 2: f("kind", "string") });
      else if (tag >> 3 === 2) raw = r.bytes();
      else r.skip(tag & 7);
    }
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err));
  }
  const tm = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const schema = KINDS[`${tm.apiVersion}/${tm.kind}`];
  if (schema === undefined || raw === undefined)
    throw bad(`kind ${tm.apiVersion}/${tm.kind} is not decoded by the playground; send JSON`);
  try {
    return { apiVersion: tm.apiVersion, kind: tm.kind, ...decodeMessage(raw, schema) };
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err));
  }
}
