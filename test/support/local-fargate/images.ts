/** Image references as ECS (containerd) spells them, and the image facts a task start needs. */
import { podman } from "./podman.js";

/** `busybox:1` → `docker.io/library/busybox:1`; a reference with a registry host is kept. */
export function normalizedRef(image: string): string {
  const slash = image.indexOf("/");
  const first = slash === -1 ? "" : image.slice(0, slash);
  const hasHost = first.includes(".") || first.includes(":") || first === "localhost";
  let ref = hasHost ? image : slash === -1 ? `docker.io/library/${image}` : `docker.io/${image}`;
  const name = ref.slice(ref.lastIndexOf("/") + 1);
  if (!name.includes(":") && !name.includes("@")) ref = `${ref}:latest`;
  return ref;
}

export class ImagePullError extends Error {}

/** `podman pull`, with a failure phrased as ECS phrases it (CannotPullContainerError). */
export async function pullImage(image: string): Promise<void> {
  const result = await podman(["pull", "--quiet", image]);
  if (result.code === 0) return;
  const ref = normalizedRef(image);
  const detail = /manifest unknown|not found|name unknown|no such image/i.test(result.stderr)
    ? `failed to resolve ref ${ref}: ${ref}: not found`
    : `failed to resolve ref ${ref}: ${result.stderr.trim().split("\n").pop()}`;
  throw new ImagePullError(
    `CannotPullContainerError: pull image manifest has been retried 5 time(s): ${detail}`,
  );
}

export interface ImageFacts {
  architecture: string;
  sizeBytes: number;
}

export async function imageFacts(image: string): Promise<ImageFacts> {
  const result = await podman(["image", "inspect", "--format", "{{.Architecture}} {{.Size}}", image]);
  const [architecture = "", size = "0"] = result.stdout.trim().split(" ");
  return { architecture, sizeBytes: Number(size) };
}

/** runtimePlatform.cpuArchitecture → the OCI architecture name. */
export function ociArchitecture(cpuArchitecture: string | undefined): string {
  return cpuArchitecture === "ARM64" ? "arm64" : "amd64";
}
