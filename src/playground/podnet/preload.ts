// Playground only: `node --import <this file>` with PODID_POD_IP=127.x.y.z makes every TCP
// connection the process opens to a loopback destination leave from that address, so that
// an unmodified application (the Azure SDK, fetch, http) reaches the NMI "from its pod IP"
// as it would from a real pod's network namespace. Nothing in podid's programs uses this.
import net from "node:net";
import { bindToPod, podIpFrom, podPortsFrom, POD_IP_ENV, POD_LOOPBACK_PORTS_ENV, type ConnectOptions } from "./bind.ts";

const podIp = podIpFrom(process.env[POD_IP_ENV]);
const podPorts = podPortsFrom(process.env[POD_LOOPBACK_PORTS_ENV]);

if (podIp !== undefined) {
  // http, https, tls and undici all end in Socket.prototype.connect, so one hook covers them.
  type Connect = (this: net.Socket, ...args: unknown[]) => net.Socket;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the socket as `this`
  const original = net.Socket.prototype.connect as unknown as Connect;
  const patched: Connect = function (this: net.Socket, ...args: unknown[]) {
    const [first] = args;
    if (Array.isArray(first)) {
      // Internal form after net.connect's normalisation: [options, callback], tagged with a
      // private symbol, so replace the element in place rather than building a new array.
      const normalized = first as unknown[];
      if (typeof normalized[0] === "object" && normalized[0] !== null)
        normalized[0] = bindToPod(podIp, normalized[0] as ConnectOptions, podPorts);
      return original.apply(this, args);
    }
    if (typeof first === "object" && first !== null) {
      return original.call(this, bindToPod(podIp, first as ConnectOptions, podPorts), ...args.slice(1));
    }
    if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
      const host = typeof args[1] === "string" ? args[1] : undefined;
      const rest = args.slice(host === undefined ? 1 : 2);
      return original.call(this, bindToPod(podIp, { port: first, host }, podPorts), ...rest);
    }
    return original.apply(this, args);
  };
  Object.defineProperty(net.Socket.prototype, "connect", { value: patched, writable: true, configurable: true });
}
