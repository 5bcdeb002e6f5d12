// Every name, path, limit and default the Azure stand-ins share, in one place. Values that
// mirror the real services (paths, audiences, limits, error texts) say where they come from.

/** Resource Manager's audiences: tokens for any of these are accepted by the ARM stand-in. */
export const ARM_AUDIENCES = [
  "https://management.azure.com/",
  "https://management.azure.com",
  "https://management.core.windows.net/",
  "https://management.core.windows.net",
] as const;

/** Azure Storage's audience, as Azurite checks it (with or without the trailing slash). */
export const STORAGE_AUDIENCE = "https://storage.azure.com";

/** v1 access tokens carry this issuer; Azurite refuses any other host. */
export const STS_ISSUER_PREFIX = "https://sts.windows.net/";

export const PROVIDERS = {
  compute: "Microsoft.Compute",
  managedIdentity: "Microsoft.ManagedIdentity",
} as const;

export const RESOURCE_TYPES = {
  scaleSet: "Microsoft.Compute/virtualMachineScaleSets",
  scaleSetVm: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
  vm: "Microsoft.Compute/virtualMachines",
  identity: "Microsoft.ManagedIdentity/userAssignedIdentities",
  federatedCredential: "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
} as const;

/** Federated identity credentials (Microsoft.ManagedIdentity). */
export const FEDERATED_CREDENTIALS = {
  /** Documented limit per user-assigned identity (and per app registration). */
  perIdentity: 20,
  /** How long a credential write holds the identity: another write meanwhile gets 409 (real: seconds). */
  writeMs: 100,
  /** Names: 3-120 characters, letters, digits, '-' and '_', starting with a letter or digit (assumption from the portal's rule). */
  namePattern: /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/,
} as const;

export const IDENTITY_TYPES = {
  none: "None",
  system: "SystemAssigned",
  user: "UserAssigned",
  both: "SystemAssigned, UserAssigned",
} as const;
export type IdentityType = (typeof IDENTITY_TYPES)[keyof typeof IDENTITY_TYPES];

/** IMDS paths and the api-versions it answers. */
export const IMDS = {
  tokenPath: "/metadata/identity/oauth2/token",
  instancePath: "/metadata/instance",
  /** Token lifetime IMDS hands out (real IMDS: about 24 h; shorter here so refresh is exercised). */
  tokenLifetimeSeconds: 3600,
} as const;

/** Entra ID: lifetime of service-principal access tokens (real: 60-90 min). */
export const ENTRA = {
  tokenLifetimeSeconds: 3599,
  /** Client assertions must not be older than this (MSAL makes them valid for 600 s). */
  maxAssertionLifetimeSeconds: 3600,
} as const;

export const STAND_IN_DEFAULTS = {
  location: "westeurope",
  /** Real scale-set updates take 40-60 s; the playground keeps them short by default. */
  lroDurationMs: 300,
  /** Compute's write bucket per scale set or VM: burst of 12, refilled at 4 a minute. */
  throttleBurst: 12,
  throttleRefillPerMinute: 4,
  /** Azurite's well-known development account (public, documented by Microsoft). */
  azuriteAccountName: "devstoreaccount1",
  azuriteAccountKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
  azuriteStartTimeoutMs: 20_000,
} as const;
