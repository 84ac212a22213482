/**
 * Which registry an image reference is pulled from, the way Docker reads a reference: the first path component is
 * a registry host when it holds a `.` or a `:` or is `localhost`; otherwise the image is on Docker Hub. Registry
 * credentials are matched on this host, so a password is only ever sent to the registry it belongs to.
 */

/** Docker Hub's canonical host; the other names it goes by are folded into it. */
export const DOCKER_HUB_HOST = "docker.io";
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB_HOST, "index.docker.io", "registry-1.docker.io"]);

/** A registry host as configured or parsed: lower case, Docker Hub's aliases as `docker.io`. */
export function normaliseRegistryHost(host: string): string {
  const lower = host.trim().toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB_HOST : lower;
}

/** The registry host of an image reference (`alpine` and `library/alpine` are on `docker.io`). */
export function registryHostOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash < 0) return DOCKER_HUB_HOST;
  const first = image.slice(0, slash);
  const isHost = first.includes(".") || first.includes(":") || first === "localhost";
  return isHost ? normaliseRegistryHost(first) : DOCKER_HUB_HOST;
}

/** A registry host as the configuration accepts it: a DNS name with an optional port, no scheme or path. */
export const REGISTRY_HOST_PATTERN =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
