// The Azure the reconciler benchmarks run against: 3 uniform scale sets of 10 instances (a
// kubelet identity on each) and 50 user-assigned identities, as in AAD Pod Identity's nightly
// load; one service principal for the reconciler.
import type { PlaygroundCloud } from "../src/playground/azure/index.ts";

export const SCALE_SETS = 3;
export const NODES_PER_SET = 10;
export const IDENTITIES = 50;

const guid = (tag: string, n: number): string =>
  `${tag}${String(n).padStart(4, "0")}-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** `run` keeps the GUIDs of one benchmark's cloud apart from another's. */
export function benchCloud(o: { rg: string; idRg: string; run: number }): PlaygroundCloud {
  return {
    tenantId: guid("7e11", o.run),
    subscriptionId: guid("50b5", o.run),
    location: "westeurope",
    resourceGroups: [o.rg, o.idRg],
    scaleSets: Array.from({ length: SCALE_SETS }, (_, s) => ({
      name: `aks-pool${s}-vmss`,
      resourceGroup: o.rg,
      orchestrationMode: "Uniform" as const,
      instances: Array.from({ length: NODES_PER_SET }, (_, i) => ({
        instanceId: String(i),
        computerName: `aks-pool${s}-vmss${String(i).padStart(6, "0")}`,
      })),
      identities: ["kubelet"],
    })),
    vms: [],
    identities: [
      { name: "kubelet", resourceGroup: o.rg, clientId: guid("c11e", 999), principalId: guid("9a1d", 999) },
      ...Array.from({ length: IDENTITIES }, (_, i) => ({
        name: `id-${i}`,
        resourceGroup: o.idRg,
        clientId: guid("c11e", i),
        principalId: guid("9a1d", i),
      })),
    ],
    servicePrincipals: [
      {
        name: "bench-reconciler",
        clientId: guid("5e1f", o.run),
        objectId: guid("0b1e", o.run),
        secret: "bench-secret-0123456789",
      },
    ],
  };
}
