// Test helpers for the playground's Azure stand-ins: start them with a fresh CA, and build real
// Azure SDK credentials that trust the playground CA (`tlsOptions.ca`, which every Azure SDK
// client's pipeline honours) and skip instance discovery (a custom authority needs that).
import { ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { createCertificateAuthority, type CertificateAuthority } from "../../src/shared/pki.ts";
import {
  defaultCloud,
  startAzure,
  type AzurePlayground,
  type PlaygroundCloud,
  type StartAzureOptions,
} from "../../src/playground/azure/index.ts";

export interface AzureFixture {
  pg: AzurePlayground;
  ca: CertificateAuthority;
  cloud: PlaygroundCloud;
}

let sharedCa: CertificateAuthority | undefined;
/** One CA per test process: generating RSA keys costs time. */
export function testCa(): CertificateAuthority {
  sharedCa ??= createCertificateAuthority("podid test CA");
  return sharedCa;
}

export async function startTestAzure(opts: Partial<StartAzureOptions> = {}): Promise<AzureFixture> {
  const ca = opts.ca ?? testCa();
  const cloud = opts.cloud ?? defaultCloud();
  const pg = await startAzure({ lroDurationMs: 50, ...opts, ca, cloud });
  return { pg, ca, cloud };
}

/** The reconciler's service principal from the cloud, as a real ClientSecretCredential against the Entra stand-in. */
export function reconcilerCredential(f: AzureFixture): ClientSecretCredential {
  const sp = f.cloud.servicePrincipals[0]!;
  return new ClientSecretCredential(f.pg.tenantId, sp.clientId, sp.secret!, {
    authorityHost: f.pg.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: f.pg.caPem },
  });
}

export function certificateCredential(f: AzureFixture, clientId: string, pem: string): ClientCertificateCredential {
  return new ClientCertificateCredential(
    f.pg.tenantId,
    clientId,
    { certificate: pem },
    {
      authorityHost: f.pg.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: f.pg.caPem },
    },
  );
}

/** A credential that hands out a fixed token (for tokens no real flow would produce: wrong audience, expired). */
export function staticCredential(token: string, expiresOnTimestamp = Date.now() + 3_600_000): TokenCredential {
  return { getToken: (): Promise<AccessToken> => Promise.resolve({ token, expiresOnTimestamp }) };
}

/** Puts the stand-ins back to their start between tests: no faults, full throttling buckets, no recorded calls. */
export function resetAzure(f: AzureFixture): void {
  f.pg.faults.reset();
  f.pg.resetThrottling();
  f.pg.calls.reset();
}
