// Which ARM resource a request path names, parsed purely (ARM paths are case-insensitive).
export type ArmRoute =
  | { kind: "scaleSets"; sub: string; rg: string; name?: string }
  | { kind: "scaleSetVms"; sub: string; rg: string; scaleSet: string; instanceId?: string }
  | { kind: "vms"; sub: string; rg: string; name?: string }
  | { kind: "identities"; sub: string; rg: string; name?: string }
  | { kind: "federatedCredentials"; sub: string; rg: string; identity: string; name?: string }
  | { kind: "operation"; sub: string; location: string; operationId: string };

export function parseArmPath(path: string): ArmRoute | undefined {
  const s = path
    .replace(/^\/+|\/+$/g, "")
    .split("/")
    .map(decodeURIComponent);
  const l = s.map((x) => x.toLowerCase());
  if (l[0] !== "subscriptions" || s[1] === undefined) return undefined;
  const sub = s[1];
  if (
    l[2] === "providers" &&
    l[3] === "microsoft.compute" &&
    l[4] === "locations" &&
    l[6] === "operations" &&
    s.length === 8
  ) {
    return { kind: "operation", sub, location: s[5]!, operationId: s[7]! };
  }
  if (l[2] !== "resourcegroups" || s[3] === undefined || l[4] !== "providers") return undefined;
  return resourceRoute(sub, s[3], `${l[5]}/${l[6]}`, s.slice(7));
}

function resourceRoute(sub: string, rg: string, provider: string, rest: string[]): ArmRoute | undefined {
  if (provider === "microsoft.compute/virtualmachinescalesets") {
    if (rest.length <= 1)
      return rest[0] === undefined ? { kind: "scaleSets", sub, rg } : { kind: "scaleSets", sub, rg, name: rest[0] };
    if (rest[1]?.toLowerCase() !== "virtualmachines" || rest.length > 3) return undefined;
    const base = { kind: "scaleSetVms" as const, sub, rg, scaleSet: rest[0]! };
    return rest[2] === undefined ? base : { ...base, instanceId: rest[2] };
  }
  if (
    provider === "microsoft.managedidentity/userassignedidentities" &&
    rest[1]?.toLowerCase() === "federatedidentitycredentials" &&
    rest.length <= 3
  ) {
    const base = { kind: "federatedCredentials" as const, sub, rg, identity: rest[0]! };
    return rest[2] === undefined ? base : { ...base, name: rest[2] };
  }
  if (rest.length > 1) return undefined;
  const name = rest[0];
  if (provider === "microsoft.compute/virtualmachines")
    return name === undefined ? { kind: "vms", sub, rg } : { kind: "vms", sub, rg, name };
  if (provider === "microsoft.managedidentity/userassignedidentities") {
    return name === undefined ? { kind: "identities", sub, rg } : { kind: "identities", sub, rg, name };
  }
  return undefined;
}
