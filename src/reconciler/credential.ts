// Azure credentials for Resource Manager: DefaultAzureCredential from the environment (the
// same variables everywhere, so the playground and a real cluster differ only in
// configuration), or the AKS cloud config file (/etc/kubernetes/azure.json) when named.
import { readFileSync } from "node:fs";
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
} from "@azure/identity";

const KNOWN_AUTHORITIES = [
  "login.microsoftonline.com",
  "login.chinacloudapi.cn",
  "login.microsoftonline.us",
  "login.partner.microsoftonline.cn",
];

/**
 * MSAL asks login.microsoftonline.com to validate any authority it does not know, and no
 * environment variable turns that off: for a non-public authority it must be off in code.
 */
export function needsInstanceDiscoveryOff(authorityHost: string | undefined): boolean {
  if (authorityHost === undefined || authorityHost === "") return false;
  try {
    return !KNOWN_AUTHORITIES.includes(new URL(authorityHost).hostname.toLowerCase());
  } catch {
    return true;
  }
}

/** The fields of AKS's cloud config file that name a credential. */
export interface CloudConfig {
  tenantId?: string;
  subscriptionId?: string;
  aadClientId?: string;
  aadClientSecret?: string;
  useManagedIdentityExtension?: boolean;
  userAssignedIdentityID?: string;
  resourceManagerEndpoint?: string;
}

export function parseCloudConfig(text: string, source: string): CloudConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`--cloud-config ${source}: not JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new Error(`--cloud-config ${source}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") throw new Error(`--cloud-config ${source}: ${k} must be a string`);
    return v;
  };
  const useMsi = o.useManagedIdentityExtension;
  if (useMsi !== undefined && typeof useMsi !== "boolean")
    throw new Error(`--cloud-config ${source}: useManagedIdentityExtension must be true or false`);
  return {
    tenantId: str("tenantId"),
    subscriptionId: str("subscriptionId"),
    aadClientId: str("aadClientId"),
    aadClientSecret: str("aadClientSecret"),
    useManagedIdentityExtension: useMsi,
    userAssignedIdentityID: str("userAssignedIdentityID"),
    resourceManagerEndpoint: str("resourceManagerEndpoint"),
  };
}

/** The cloud config names the node's managed identity: the credential asks the node's IMDS. */
export const usesManagedIdentity = (cc: CloudConfig | undefined): boolean =>
  cc !== undefined && (cc.useManagedIdentityExtension === true || cc.aadClientId === "msi");

export interface CredentialOptions {
  cloudConfig?: CloudConfig;
  /** Defaults to $AZURE_AUTHORITY_HOST. */
  authorityHost?: string;
  caPem?: string;
}

export function createArmCredential(opts: CredentialOptions = {}): TokenCredential {
  const authorityHost = opts.authorityHost ?? process.env.AZURE_AUTHORITY_HOST;
  const common = {
    ...(needsInstanceDiscoveryOff(authorityHost) ? { disableInstanceDiscovery: true } : {}),
    ...(authorityHost !== undefined && authorityHost !== "" ? { authorityHost } : {}),
    ...(opts.caPem !== undefined ? { tlsOptions: { ca: opts.caPem } } : {}),
  };
  const cc = opts.cloudConfig;
  if (cc === undefined) return new DefaultAzureCredential(common);
  if (usesManagedIdentity(cc)) {
    return new ManagedIdentityCredential({
      ...(cc.userAssignedIdentityID !== undefined ? { clientId: cc.userAssignedIdentityID } : {}),
      ...common,
    });
  }
  if (cc.tenantId === undefined || cc.aadClientId === undefined || cc.aadClientSecret === undefined) {
    throw new Error(
      "--cloud-config: expected useManagedIdentityExtension, or tenantId, aadClientId and aadClientSecret",
    );
  }
  return new ClientSecretCredential(cc.tenantId, cc.aadClientId, cc.aadClientSecret, common);
}

export function loadCloudConfig(path: string): CloudConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`--cloud-config: cannot read ${path} (${(e as Error).message})`, { cause: e });
  }
  return parseCloudConfig(text, path);
}
