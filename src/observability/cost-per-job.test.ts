import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.js";
import { PUBLIC_IPV4_USD_HOUR, taskCost } from "./cost.js";
import { jobCostEstimator, runnerConfigForJob } from "./cost-per-job.js";

const config = parseConfig({
  gitlab: { url: "https://gitlab.example.com" },
  runners: [
    { name: "small", tags: ["fargate"] },
    {
      name: "big",
      tags: ["large", "fargate"],
      jobs: { defaultSize: { cpu: 4096, memoryMiB: 8192 }, capacity: "FARGATE" },
    },
  ],
});

describe("cost per job", () => {
  it("finds the runner configuration by the job runner's tags, in any order, else the first", () => {
    expect(runnerConfigForJob(config, { runner: { tags: ["fargate", "large"] } }).name).toBe("big");
    expect(runnerConfigForJob(config, { runner: { tags: ["other"] } }).name).toBe("small");
    expect(runnerConfigForJob(config, { runner: null }).name).toBe("small");
  });

  it("prices a job at its configuration's default size and capacity, with the public IPv4 address its task holds", () => {
    const estimate = jobCostEstimator(config, "us-east-1");
    const big = estimate({ runner: { tags: ["large", "fargate"] } }, 600);
    expect(big).toBeCloseTo(
      taskCost(
        {
          cpu: 4096,
          memoryMiB: 8192,
          ephemeralStorageGiB: 21,
          architecture: "x86_64",
          capacity: "FARGATE",
          publicIpv4: true,
        },
        600,
        "us-east-1",
      ).usd,
      12,
    );
    // The small one is on Spot by default and a quarter of the size: far cheaper.
    expect(estimate({ runner: { tags: ["fargate"] } }, 600)).toBeLessThan(big / 4);
  });

  it("adds no address when tasks run without a public IP (the operator's own VPC)", () => {
    const own = parseConfig({
      ...config,
      network: { vpcId: "vpc-0abc", subnetIds: ["subnet-0abc"], assignPublicIp: false },
    });
    const withAddress = jobCostEstimator(config, "us-east-1")({ runner: null }, 3600);
    const withoutAddress = jobCostEstimator(own, "us-east-1")({ runner: null }, 3600);
    expect(withAddress - withoutAddress).toBeCloseTo(PUBLIC_IPV4_USD_HOUR, 10);
  });
});
