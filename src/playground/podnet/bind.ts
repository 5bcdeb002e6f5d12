// Playground only. Decides which outgoing connections of a "pod" process get the pod's
// address as their source, emulating the pod's network namespace on one loopback network:
// connections to loopback destinations (where the playground's NMI, API server and Azure
// stand-ins listen) leave from the pod IP; everything else is left alone.
export const POD_IP_ENV = "PODID_POD_IP";
/**
 * Ports that are the pod's own on its loopback (e.g. the NMI sidecar's 2580): a connection
 * to 127.0.0.1 or localhost on one of them goes to the pod IP instead, where the playground
 * runs that pod's sidecar, as a real pod's 127.0.0.1 is its own.
 */
export const POD_LOOPBACK_PORTS_ENV = "PODID_POD_LOOPBACK_PORTS";

const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isLoopbackV4(ip: string): boolean {
  const m = LOOPBACK_V4.exec(ip);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Checks the env var's value; undefined means "not a pod process". */
export function podIpFrom(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!isLoopbackV4(value))
    throw new Error(`${POD_IP_ENV} must be an IPv4 loopback address (127.x.y.z), got '${value}'`);
  return value;
}

export interface ConnectOptions {
  host?: string;
  port?: number | string;
  path?: string;
  localAddress?: string;
  family?: number;
  [key: string]: unknown;
}

/** Checks the ports env var: comma-separated port numbers. */
export function podPortsFrom(value: string | undefined): Set<number> {
  const ports = new Set<number>();
  for (const p of (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new Error(`${POD_LOOPBACK_PORTS_ENV} must be comma-separated ports, got '${p}'`);
    ports.add(n);
  }
  return ports;
}

/** The options to connect with: unchanged, or from the pod IP (and to it, for the pod's own loopback ports). */
export function bindToPod(
  podIp: string,
  opts: ConnectOptions,
  podPorts: ReadonlySet<number> = new Set(),
): ConnectOptions {
  // undici passes `localAddress: null`; only a real value means the caller chose one.
  if (opts.path != null || opts.localAddress != null) return opts;
  const host = opts.host ?? "localhost";
  if ((host === "localhost" || host === "127.0.0.1") && podPorts.has(Number(opts.port)))
    return { ...opts, host: podIp, family: 4, localAddress: podIp };
  if (host === "localhost") return { ...opts, host: "127.0.0.1", family: 4, localAddress: podIp };
  if (isLoopbackV4(host)) return { ...opts, localAddress: podIp };
  return opts;
}
