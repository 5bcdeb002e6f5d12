// What a kubelet gives a container as environment: literal values, downward-API fieldRefs,
// and `$(VAR)` references to variables defined earlier in the list (an undefined reference
// stays as written, as Kubernetes leaves it). The playground "runs" a pod's container as a
// process, so it needs the same expansion to honour what the webhook injected.
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) cur = isObj(cur) ? cur[part] : undefined;
  return cur;
}

function fieldRef(pod: Obj, fieldPath: string): string | undefined {
  const ann = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  const v = ann !== null ? get(pod, `metadata.${ann[1]}`) : get(pod, fieldPath);
  if (ann !== null) return isObj(v) && typeof v[ann[2]!] === "string" ? (v[ann[2]!] as string) : undefined;
  return typeof v === "string" ? v : undefined;
}

export function expandRefs(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === "$$") return "$";
    return name !== undefined && env[name] !== undefined ? env[name] : m;
  });
}

/** The environment of container `name` of `pod`, as the kubelet would set it. */
export function containerEnv(pod: Obj, containerName: string): Record<string, string> {
  // Init containers too: the wait-for-identity container runs as a process before the app's.
  const lists = [get(pod, "spec.initContainers"), get(pod, "spec.containers")];
  const c: unknown = lists
    .flatMap((l) => (Array.isArray(l) ? (l as unknown[]) : []))
    .find((x) => isObj(x) && x.name === containerName);
  if (!isObj(c)) throw new Error(`pod has no container named "${containerName}"`);
  const env: Record<string, string> = {};
  for (const e of Array.isArray(c.env) ? (c.env as unknown[]) : []) {
    if (!isObj(e) || typeof e.name !== "string") continue;
    if (typeof e.value === "string") env[e.name] = expandRefs(e.value, env);
    else {
      const path = get(e, "valueFrom.fieldRef.fieldPath");
      const v = typeof path === "string" ? fieldRef(pod, path) : undefined;
      if (v !== undefined) env[e.name] = v;
    }
  }
  return env;
}
