// Where webhooks may deliver (config webhooks.allowedHosts, webhooks.allowPrivateAddresses): a
// pusher who may create a webhook must not be able to make Berth probe its own network. The URL's
// host must match the allow list, and every address it resolves to must be public unless private
// addresses are allowed. Checked when a webhook is created or changed, and again at each delivery,
// where the connection goes to the address that was checked (the lookup below), so a name that
// resolves differently later (DNS rebinding) is refused then.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { RegistryError } from "../../domain/errors.ts";

export interface DestinationPolicy {
  allowedHosts: readonly string[];
  allowPrivateAddresses: boolean;
}

/** Loopback, private, link-local, shared, multicast and reserved ranges (IANA special-purpose registries). */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12], ["192.0.0.0", 24],
  ["192.0.2.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NON_PUBLIC.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96], ["2001:db8::", 32]] as const) NON_PUBLIC.addSubnet(net, prefix, "ipv6");

export function isPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isPublicAddress(mapped[1]!);
  const family = isIP(address);
  if (family === 0) return false;
  return !NON_PUBLIC.check(address, family === 4 ? "ipv4" : "ipv6");
}

function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase();
  return patterns.some((p) => {
    const pattern = p.toLowerCase();
    if (pattern === "*") return true;
    if (pattern.startsWith("*.")) return name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1;
    return pattern === name;
  });
}

function refused(message: string, detail: Record<string, unknown>): RegistryError {
  return new RegistryError("INVALID_REQUEST", message, detail);
}

/** The URL, when its form and host are allowed (no DNS yet). */
export function checkUrl(text: string, policy: DestinationPolicy): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refused(`not a URL: ${text.slice(0, 200)}`, { url: text.slice(0, 200) });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw refused("a webhook URL is http:// or https://", { url: text });
  if (url.username || url.password) throw refused("a webhook URL carries no credentials: send them as a custom header", { url: url.host });
  const host = hostOf(url);
  if (!hostAllowed(host, policy.allowedHosts)) {
    throw refused(`webhook host ${host} is not in webhooks.allowedHosts (${policy.allowedHosts.join(", ")})`, { host, allowedHosts: policy.allowedHosts });
  }
  return url;
}

/** The URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

function checkAddress(host: string, address: string, policy: DestinationPolicy): void {
  if (!policy.allowPrivateAddresses && !isPublicAddress(address)) {
    throw refused(`webhook host ${host} resolves to ${address}, a loopback, private or reserved address; set webhooks.allowPrivateAddresses to deliver inside your network`, { host, address });
  }
}

/** Resolves the host and checks every address it has now (create and update time). */
export async function checkDestination(text: string, policy: DestinationPolicy): Promise<URL> {
  const url = checkUrl(text, policy);
  const host = hostOf(url);
  if (isIP(host)) {
    checkAddress(host, host, policy);
    return url;
  }
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) => dnsLookup(host, { all: true }, (err, found) => (err ? reject(err) : resolve(found))))
    .catch((err: unknown) => {
      throw refused(`webhook host ${host} does not resolve: ${(err as Error).message}`, { host });
    });
  for (const a of addresses) checkAddress(host, a.address, policy);
  return url;
}

/**
 * The lookup a delivery connects with: the addresses are checked after resolution, and the
 * connection goes to one of them, so what was checked is what is reached.
 */
export function guardedLookup(policy: DestinationPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const list = addresses as LookupAddress[];
      try {
        for (const a of list) checkAddress(hostname, a.address, policy);
      } catch (refusal) {
        return callback(refusal as NodeJS.ErrnoException, "", 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };
}
