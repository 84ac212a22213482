import { describe, expect, it } from "vitest";
import type { ContainerSpec } from "./backend.js";
import { dockerInDocker, withDockerInDocker } from "./docker-in-docker.js";

const dind: ContainerSpec = { name: "svc-0", image: "docker:27-dind", aliases: ["docker"] };
const build: ContainerSpec = { name: "build", image: "docker:27" };

describe("Docker-in-Docker wiring", () => {
  it("is nothing without a dind service", () => {
    expect(dockerInDocker([{ name: "svc-0", image: "postgres:17" }], undefined)).toBeUndefined();
  });

  it("uses TLS on 2376 with the shared client certificates by default (the dind image's default)", () => {
    expect(dockerInDocker([dind], undefined)).toEqual({
      serviceName: "svc-0",
      buildEnvironment: {
        DOCKER_HOST: "tcp://docker:2376",
        DOCKER_TLS_VERIFY: "1",
        DOCKER_CERT_PATH: "/certs/client",
      },
      serviceEnvironment: {},
    });
  });

  it("uses plain 2375 when the job turns TLS off, and hands the service the job's setting", () => {
    expect(dockerInDocker([dind], "")).toEqual({
      serviceName: "svc-0",
      buildEnvironment: { DOCKER_HOST: "tcp://docker:2375" },
      serviceEnvironment: { DOCKER_TLS_CERTDIR: "" },
    });
  });

  it("lets the service's own DOCKER_TLS_CERTDIR win and reaches the service by its alias", () => {
    const custom = { ...dind, aliases: ["dockerd"], environment: { DOCKER_TLS_CERTDIR: "" } };
    expect(dockerInDocker([custom], "/certs")).toMatchObject({
      buildEnvironment: { DOCKER_HOST: "tcp://dockerd:2375" },
      serviceEnvironment: {},
    });
  });

  it("adds the wiring to the containers, the build's own variables first", () => {
    const wired = withDockerInDocker(
      { ...build, environment: { DOCKER_HOST: "tcp://elsewhere:2375" } },
      [dind],
      "",
    );
    expect(wired.build.environment).toEqual({ DOCKER_HOST: "tcp://elsewhere:2375" });
    expect(wired.services[0]!.environment).toEqual({ DOCKER_TLS_CERTDIR: "" });
  });
});
