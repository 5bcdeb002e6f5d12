// Every name podid shares with users, other programs or the cluster lives here: API group,
// kinds, labels, annotations, env vars, ports, paths, defaults and limits. Change one here and
// every program follows.

export const GROUP = "aadpodidentity.k8s.io";
export const VERSION = "v1";
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KINDS = {
  AzureIdentity: { kind: "AzureIdentity", plural: "azureidentities", namespaced: true },
  AzureIdentityBinding: { kind: "AzureIdentityBinding", plural: "azureidentitybindings", namespaced: true },
  AzureAssignedIdentity: { kind: "AzureAssignedIdentity", plural: "azureassignedidentities", namespaced: true },
  AzurePodIdentityException: {
    kind: "AzurePodIdentityException",
    plural: "azurepodidentityexceptions",
    namespaced: true,
  },
  AzurePodIdentityPolicy: { kind: "AzurePodIdentityPolicy", plural: "azurepodidentitypolicies", namespaced: false },
} as const;
export type PodidKind = keyof typeof KINDS;

/** The pod label that names a binding selector (AAD Pod Identity's contract, unchanged). */
export const BINDING_LABEL = "aadpodidbinding";

/** Annotation the webhook writes on admitted pods; the NMI refuses pods without a valid one. */
export const ADMISSION_MARK_ANNOTATION = `${GROUP}/admission-mark`;
/** Annotation with the NMI mode the webhook chose for the pod (daemonset | sidecar). */
export const NMI_MODE_ANNOTATION = `${GROUP}/nmi-mode`;
/** Annotation listing the identities the pod was admitted with (JSON), covered by the mark. */
export const ADMITTED_IDENTITIES_ANNOTATION = `${GROUP}/admitted-identities`;
/** Every annotation podid writes on a pod: set at admission, never changed afterwards. */
export const PODID_POD_ANNOTATIONS = [
  ADMISSION_MARK_ANNOTATION,
  NMI_MODE_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
] as const;
/** Version tag at the front of every admission mark the webhook signs, so the format can evolve. */
export const ADMISSION_MARK_VERSION = "v2";
/** Marks of this version (before the admitted identities were listed) still verify, the old way. */
export const LEGACY_ADMISSION_MARK_VERSION = "v1";

/** Env vars the webhook injects and the Azure SDKs read. */
export const ENV = {
  clientId: "AZURE_CLIENT_ID",
  podIdentityAuthorityHost: "AZURE_POD_IDENTITY_AUTHORITY_HOST",
} as const;

/**
 * Where a user-assigned identity's tokens come from. NodeAssigned: the reconciler assigns it to
 * the node's VM or scale set and the NMI asks the node's IMDS (AAD Pod Identity's way).
 * Federated: the identity trusts podid's NMI service account through one federated identity
 * credential, and the NMI exchanges its projected service-account token at Entra ID; no VM or
 * scale-set write. Service principals (types 1 and 2) always use their Secret.
 */
export const TOKEN_SOURCES = ["NodeAssigned", "Federated"] as const;
export type TokenSourceName = (typeof TOKEN_SOURCES)[number];

/** Workload identity federation (issue 15): the names Entra, Resource Manager and config/ share. */
export const FEDERATION = {
  /** The audience Entra expects on a federated credential's assertion. */
  audience: "api://AzureADTokenExchange",
  /** The one federated identity credential podid keeps on each federated identity. */
  credentialName: "podid-nmi",
  /** The credential's subject: podid's NMI service account, whatever namespace uses the identity. */
  subject: (podidNamespace: string): string => `system:serviceaccount:${podidNamespace}:podid-nmi`,
  /** The NMI's projected service-account token (audience `audience`), rotated by the kubelet. */
  tokenVolumeName: "federation-token",
  tokenMountPath: "/var/run/secrets/podid/federation",
  tokenFileName: "token",
  tokenExpirationSeconds: 3600,
  /** ConfigMap in podid's namespace: defaultTokenSource, tenantID, issuer, manageCredentials. */
  configMapName: "podid-federation",
  /** Reason of the Event the NMI records on an AzureIdentity when Entra refuses an exchange. */
  exchangeFailedReason: "FederatedTokenExchangeFailed",
  defaultTokenSource: "NodeAssigned" as TokenSourceName,
} as const;

export const NMI_MODES = ["daemonset", "sidecar"] as const;
export type NmiMode = (typeof NMI_MODES)[number];

/** podid's own namespace: excluded from its webhooks. */
export const SYSTEM_NAMESPACE = "podid-system";
/** Namespaces the webhooks never see (the configurations' namespaceSelector excludes them). */
export const EXCLUDED_NAMESPACES = ["kube-system", SYSTEM_NAMESPACE] as const;
/** Where AzurePodIdentityExceptions take effect unless a policy says otherwise. */
export const EXCEPTION_NAMESPACES = ["kube-system", SYSTEM_NAMESPACE] as const;

export const DEFAULTS = {
  webhookPort: 9443,
  nmiPort: 2579,
  /** The node NMI's TLS port, where sidecars present their pod's token. */
  nmiSidecarPort: 2578,
  imdsEndpoint: "http://169.254.169.254",
  armEndpoint: "https://management.azure.com",
  /** The sidecar's audience for the projected service-account token it presents. */
  sidecarTokenAudience: "podid-nmi",
  /** Grace period before podid removes an identity that no pod needs any more. */
  removalGraceSeconds: 60,
} as const;

export const LIMITS = {
  /** Resource Manager refuses a request that assigns more identities than this. */
  identitiesPerArmRequest: 150,
  /** AdmissionReview bodies above this are refused with 413 (the apiserver caps at 3 MiB). */
  admissionBodyBytes: 3 * 1024 * 1024,
  /** IMDS's own per-VM limits, which the NMI must stay under when it calls upstream. */
  imdsRequestsPerSecond: 20,
  imdsConcurrentRequests: 5,
} as const;

/** Well-known paths. */
export const PATHS = {
  imdsToken: "/metadata/identity/oauth2/token",
  webhookMutatePods: "/mutate/pods",
  webhookValidatePods: "/validate/pods",
  webhookValidateResources: "/validate/resources",
  webhookValidateWorkloads: "/validate/workloads",
} as const;

/** Field manager podid uses for the writes it makes to the Kubernetes API. */
export const FIELD_MANAGER = "podid";

/** The reconciler's names and defaults. */
export const RECONCILER = {
  /** Lease the reconciler replicas elect a leader on (in SYSTEM_NAMESPACE). */
  leaseName: "podid-reconciler",
  /** Label on the ConfigMaps that record which identities podid added to a VM or scale set. */
  ownershipRecordLabel: `${GROUP}/owned-identities`,
  ownershipRecordPrefix: "podid-owned-",
  /** Quiet time after the last event before a reconcile runs (a burst of pods = one batch). */
  batchWindowMs: 1000,
  /** How old a cached Resource Manager read may be before it is read again. */
  armCacheSeconds: 300,
  /** Periodic level-triggered pass even without events (catches drift in Resource Manager). */
  resyncSeconds: 300,
  /** How long an identity Resource Manager refused is left out before it is offered again. */
  invalidIdentityRetrySeconds: 300,
  metricsPort: 8080,
  /** Labels of the reconciler's pods (config/reconciler/deployment.yaml): its IMDS exception matches them. */
  podLabels: { "app.kubernetes.io/name": "podid-reconciler" },
  /** AzurePodIdentityException the reconciler keeps for itself when its credential comes from IMDS. */
  imdsExceptionName: "podid-reconciler",
} as const;

/** Sidecar-mode NMI: the container the webhook injects and how it reaches the node's NMI. */
export const SIDECAR_PORT = 2580;
export const SIDECAR = {
  containerName: "podid-nmi",
  /** Projected service-account token volume (audience DEFAULTS.sidecarTokenAudience). */
  tokenVolumeName: "podid-nmi-token",
  tokenMountPath: "/var/run/secrets/podid/nmi",
  tokenFileName: "token",
  tokenExpirationSeconds: 3600,
  /** Env var holding the node NMI's URL, e.g. `http://$(PODID_HOST_IP):2579`. */
  nodeEndpointEnv: "PODID_NMI_ENDPOINT",
  /** Env var the webhook fills from the downward API (`status.hostIP`). */
  hostIpEnv: "PODID_HOST_IP",
  /** Header the sidecar presents the pod's token in; the node NMI reviews it. */
  tokenHeader: "x-podid-pod-token",
  /** The sidecar's /metrics for Prometheus, on the pod's address (its token port stays on loopback). */
  metricsPort: 2581,
  metricsPortName: "podid-metrics",
  /** Env var holding the PEM CA certificate the sidecar verifies the node NMI's certificate with. */
  caEnv: "PODID_NMI_CA",
  /** Env var naming the DNS name on the node NMI's certificate (it is reached by the node's IP). */
  serverNameEnv: "PODID_NMI_SERVER_NAME",
} as const;

/** The node NMI's TLS serving certificate (for sidecars): issued by cert-manager or `podid webhook --self-signed`. */
export const NMI_TLS = {
  /** Secret in podid's namespace holding tls.crt, tls.key and ca.crt. */
  secretName: "podid-nmi-tls",
  /** The DNS name on the certificate, in podid's namespace: `podid-nmi.<namespace>.svc`. */
  serverName: (namespace: string): string => `podid-nmi.${namespace}.svc`,
} as const;

/** The webhook's names (config/webhook uses the same). */
export const WEBHOOK = {
  serviceName: "podid-webhook",
  mutatingConfigName: "podid-mutating",
  validatingConfigName: "podid-validating",
  /** Secret the --self-signed bootstrap keeps the CA and serving certificate in (shared by replicas). */
  selfSignedSecretName: "podid-webhook-self-signed",
  /** Secret holding the admission-mark keys, shared with the NMI. */
  admissionKeySecretName: "podid-admission-keys",
  /** How often the TLS and key files are checked for changes (cert-manager rotation). */
  fileCheckIntervalMs: 10_000,
  /** Default image of the injected sidecar NMI. */
  sidecarImage: "podid:dev",
} as const;

/** The watch layer's defaults (src/kube), shared by every program. */
export const WATCH = {
  /** Objects per list page: a relist holds one page of full objects at a time, never the whole list. */
  pageSize: 500,
  /** The server ends each watch after a random time in this range; it is resumed, not relisted. */
  minTimeoutSeconds: 300,
  maxTimeoutSeconds: 600,
  /** Retry delays after a failed list or watch: doubling from the first to the last. */
  retryMinMs: 500,
  retryMaxMs: 30_000,
  /** A watch broken for longer than this makes a program's /readyz say so (the NMI: at once). */
  unreadyAfterMs: 60_000,
} as const;

/** Only labelled pods can need an identity: the reconciler and the doctor's cluster view list these. */
export const LABELLED_PODS_SELECTOR = BINDING_LABEL;

/**
 * Every metric podid exposes, by program. config/prometheus's rules, the runbooks and the
 * README name these; a test holds the rules to this list and the playground's Prometheus to
 * the programs' /metrics. Labels are small fixed sets (route, result, reason, code, operation,
 * status, resource): never a pod, a namespace, a client ID or a token.
 */
export const METRICS = {
  /** Every program: 1 per list-watch while it is connected, 0 from a failure until a relist succeeds. */
  watchHealthy: "podid_kube_watch_healthy",
  watchFailures: "podid_kube_watch_failures_total",
  /** Every program: lists after the first, each after 410 Gone (history older than the API server keeps). */
  watchRelists: "podid_kube_watch_relists_total",

  webhookAdmissions: "podid_webhook_admissions_total",
  webhookAdmissionDuration: "podid_webhook_admission_duration_seconds",
  webhookBadRequests: "podid_webhook_bad_requests_total",

  nmiRequests: "podid_nmi_requests_total",
  nmiRequestDuration: "podid_nmi_request_duration_seconds",
  nmiUpstreamCalls: "podid_nmi_upstream_calls_total",
  nmiTokenCache: "podid_nmi_token_cache_total",
  /** Tokens served while one of the NMI's watches was broken: its view of the cluster may be out of date. */
  nmiTokensServedStale: "podid_nmi_tokens_served_stale_total",
  sidecarRequests: "podid_nmi_sidecar_requests_total",
  sidecarRequestDuration: "podid_nmi_sidecar_request_duration_seconds",

  reconcileDuration: "podid_reconcile_duration_seconds",
  armRequests: "podid_arm_requests_total",
  assignmentLatency: "podid_assignment_latency_seconds",
  assignmentFailures: "podid_assignment_failures_total",
  assignedIdentities: "podid_assigned_identities",
  reconcileQueueDepth: "podid_reconcile_queue_depth",
  reconcilerLeader: "podid_reconciler_leader",
} as const;

/** `podid wait`, the init container the webhook adds to pods that opt in. */
export const WAIT = {
  /** Pod annotation (on the pod template): "true" opts the pod in; "<N>s" also sets how long to wait. */
  annotation: `${GROUP}/wait-for-identity`,
  containerName: "podid-wait",
  /** Real scale sets take 40-60 s to assign an identity; a Failed assignment is retried meanwhile. */
  defaultTimeoutSeconds: 180,
  maxTimeoutSeconds: 3600,
  /** The resource the wait asks a token for (any resource proves the identity answers). */
  resource: "https://management.azure.com/",
} as const;

/** `podid migrate`: the per-namespace copies it writes say where they were copied from. */
export const MIGRATE = {
  copiedFromAnnotation: `${GROUP}/copied-from`,
} as const;

/** The ServiceAccount of each program in SYSTEM_NAMESPACE (config/'s RBAC binds its roles to them). */
export const SERVICE_ACCOUNTS = {
  webhook: "podid-webhook",
  reconciler: "podid-reconciler",
  nmi: "podid-nmi",
} as const;
