/**
 * How the build container reaches a `docker:dind` service, as GitLab documents it for the Docker executor: the
 * service answers on its alias (`docker`), with TLS on port 2376 and the client certificates it writes to the
 * shared `/certs/client` (the image's default `DOCKER_TLS_CERTDIR=/certs`), or without TLS on port 2375 when the
 * job sets `DOCKER_TLS_CERTDIR: ""`. Job variables reach the services too, as with the Docker executor, so the
 * service sees the job's DOCKER_TLS_CERTDIR. A DOCKER_HOST the job sets itself still wins: the job's variables are
 * exported by its script, after the container's environment.
 */
import type { ContainerSpec } from "./backend.js";
import { isDindService } from "./placement.js";

export const DOCKER_TLS_PORT = 2376;
export const DOCKER_PLAIN_PORT = 2375;
/** Where the dind service writes its client certificates (DOCKER_TLS_CERTDIR=/certs) and the build reads them. */
export const DOCKER_CERTS_DIR = "/certs/client";

/** The dind wiring of a job, or undefined when it has no Docker-in-Docker service. */
export interface DockerInDocker {
  /** Name of the dind service's container (`svc-<n>`). */
  serviceName: string;
  /** Environment the build container gets (DOCKER_HOST and, with TLS, the client certificate settings). */
  buildEnvironment: Record<string, string>;
  /** Environment the dind service gets on top of its own variables. */
  serviceEnvironment: Record<string, string>;
}

/**
 * The wiring for the first dind service among `services`; `jobTlsCertDir` is the job's DOCKER_TLS_CERTDIR variable
 * (undefined when the job does not set it).
 */
export function dockerInDocker(
  services: readonly ContainerSpec[],
  jobTlsCertDir: string | undefined,
): DockerInDocker | undefined {
  const service = services.find((s) => isDindService(s.image));
  if (!service) return undefined;
  const host = service.aliases?.[0] ?? "docker";
  const certDir = service.environment?.DOCKER_TLS_CERTDIR ?? jobTlsCertDir;
  const serviceEnvironment: Record<string, string> =
    jobTlsCertDir !== undefined && service.environment?.DOCKER_TLS_CERTDIR === undefined
      ? { DOCKER_TLS_CERTDIR: jobTlsCertDir }
      : {};
  const buildEnvironment: Record<string, string> =
    certDir === ""
      ? { DOCKER_HOST: `tcp://${host}:${DOCKER_PLAIN_PORT}` }
      : {
          DOCKER_HOST: `tcp://${host}:${DOCKER_TLS_PORT}`,
          DOCKER_TLS_VERIFY: "1",
          DOCKER_CERT_PATH: DOCKER_CERTS_DIR,
        };
  return { serviceName: service.name, buildEnvironment, serviceEnvironment };
}

/** The build container and services with the dind wiring applied (unchanged without a dind service). */
export function withDockerInDocker<S extends ContainerSpec>(
  build: ContainerSpec,
  services: S[],
  jobTlsCertDir: string | undefined,
): { build: ContainerSpec; services: S[] } {
  const wiring = dockerInDocker(services, jobTlsCertDir);
  if (!wiring) return { build, services };
  return {
    build: { ...build, environment: { ...wiring.buildEnvironment, ...build.environment } },
    services: services.map((s) =>
      s.name === wiring.serviceName
        ? { ...s, environment: { ...s.environment, ...wiring.serviceEnvironment } }
        : s,
    ),
  };
}
