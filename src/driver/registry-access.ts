/**
 * Images the job task cannot pull with what it has. GitLab sends each job its own registry credentials (the job
 * token for `$CI_REGISTRY`), as it does to the Docker executor; ECS pulls only with a Secrets Manager secret named
 * in the task definition (`repositoryCredentials`), so the job token is not used (docs/limitations.md says why).
 * An image on that registry without a `jobs.registryCredentials` mapping for its host gets a warning in the job
 * log before the pull fails, saying what to configure.
 */
import { normaliseRegistryHost, registryHostOf } from "../config/registry-hosts.js";
import type { ContainerSpec } from "./backend.js";
import type { RegistryCredential } from "./job-spec.js";

/** The host of a credential's `url` (`registry.example.com`, `https://registry.example.com:5000/`). */
function hostOfUrl(url: string): string {
  return normaliseRegistryHost(url.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, ""));
}

export function registryAccessWarnings(
  containers: readonly ContainerSpec[],
  jobCredentials: readonly RegistryCredential[],
  registryCredentials: Readonly<Record<string, string>> | undefined,
): string[] {
  const jobHosts = new Set(jobCredentials.map((c) => hostOfUrl(c.url)));
  const warnings: string[] = [];
  for (const container of containers) {
    const host = registryHostOf(container.image);
    if (!jobHosts.has(host) || registryCredentials?.[host]) continue;
    warnings.push(
      `image ${container.image} is on the GitLab container registry ${host}, which this runner cannot pull from ` +
        "with the job's token (CI_JOB_TOKEN); the pull fails unless the image is public. Map " +
        `${host} in jobs.registryCredentials to a Secrets Manager secret holding a deploy token with ` +
        "read_registry (docs/limitations.md)",
    );
  }
  return warnings;
}
