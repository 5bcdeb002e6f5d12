// App registrations the Entra stand-in knows: client ID, object ID, client secrets and
// certificates (public part only). Identity types 1 (secret) and 2 (certificate) use these.
import { randomUUID } from "node:crypto";
import { certificateInfo, type CertificateInfo } from "./tokens.ts";

export interface ServicePrincipal {
  name: string;
  clientId: string;
  objectId: string;
  secrets: string[];
  certificates: CertificateInfo[];
}

export interface RegisterOptions {
  name?: string;
  clientId?: string;
  objectId?: string;
  secret?: string;
  /** PEM of an X.509 certificate whose key signs client assertions. */
  certificatePem?: string;
}

export class ServicePrincipals {
  #byClientId = new Map<string, ServicePrincipal>();

  /** Adds an app (or adds a secret or certificate to an existing one) and returns it. */
  register(o: RegisterOptions): ServicePrincipal {
    const clientId = (o.clientId ?? randomUUID()).toLowerCase();
    const existing = this.#byClientId.get(clientId);
    const sp: ServicePrincipal = existing ?? {
      name: o.name ?? `app-${clientId.slice(0, 8)}`,
      clientId,
      objectId: o.objectId ?? randomUUID(),
      secrets: [],
      certificates: [],
    };
    if (o.secret !== undefined) {
      if (o.secret === "") throw new Error("servicePrincipals.register: secret must not be empty");
      sp.secrets.push(o.secret);
    }
    if (o.certificatePem !== undefined) {
      try {
        sp.certificates.push(certificateInfo(o.certificatePem));
      } catch (e) {
        throw new Error(
          `servicePrincipals.register: certificatePem is not a PEM certificate (${(e as Error).message})`,
          { cause: e },
        );
      }
    }
    this.#byClientId.set(clientId, sp);
    return sp;
  }

  lookup(clientId: string): ServicePrincipal | undefined {
    return this.#byClientId.get(clientId.toLowerCase());
  }

  remove(clientId: string): boolean {
    return this.#byClientId.delete(clientId.toLowerCase());
  }

  list(): ServicePrincipal[] {
    return [...this.#byClientId.values()];
  }
}
