import { describe, expect, it } from "vitest";
import { FakeEcs } from "../../../../test/support/fake-ecs.js";
import { parseResources } from "../../../config/load.js";
import { createFargateBackend, deployedHelperImage } from "./factory.js";

const base = {
  eventBusName: "bus",
  stateTableName: "table",
  clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/sgr",
  subnetIds: ["subnet-1"],
  managerSecurityGroupIds: ["sg-m"],
  jobSecurityGroupIds: ["sg-j"],
  managerTaskDefinitions: { default: "sgr-manager-default" },
};

describe("createFargateBackend", () => {
  it("names every missing resource the backend needs", () => {
    expect(() =>
      createFargateBackend({
        ecs: new FakeEcs().client,
        resources: parseResources(base),
        region: "eu-west-1",
      }),
    ).toThrow(/resources\.jobExecutionRoleArn .*resources\.jobLogGroupName .*resources\.helperImage/);
  });

  it("passes roles, log group and helper image from the resources into the task definitions", async () => {
    const fake = new FakeEcs()
      .on("ListTaskDefinitions", () => ({ taskDefinitionArns: [] }))
      .on("RegisterTaskDefinition", (input) => ({
        taskDefinition: {
          taskDefinitionArn: `arn:aws:ecs:eu-west-1:123456789012:task-definition/${input.family}:1`,
        },
      }));
    const resources = parseResources({
      ...base,
      jobExecutionRoleArn: "arn:aws:iam::123456789012:role/exec",
      jobTaskRoleArn: "arn:aws:iam::123456789012:role/job",
      jobLogGroupName: "/sgr/jobs",
      helperImage: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sgr-helper:1",
    });
    const { backend, taskDefinitions } = createFargateBackend({
      ecs: fake.client,
      resources,
      region: "eu-west-1",
    });
    expect(backend.name).toBe("fargate");
    await taskDefinitions.resolve({
      build: { name: "build", image: "alpine:3.22" },
      services: [],
      architecture: "arm64",
      helperImage: resources.helperImage!,
    });
    expect(fake.callsOf("RegisterTaskDefinition")[0]).toMatchObject({
      executionRoleArn: "arn:aws:iam::123456789012:role/exec",
      taskRoleArn: "arn:aws:iam::123456789012:role/job",
      containerDefinitions: expect.arrayContaining([
        expect.objectContaining({
          logConfiguration: expect.objectContaining({
            options: expect.objectContaining({ "awslogs-group": "/sgr/jobs" }),
          }),
        }),
      ]),
    });
  });

  it("picks the deployed helper image per architecture, falling back to the default one", () => {
    const resources = parseResources({
      ...base,
      helperImage: "helper:default",
      helperImages: { arm64: "helper:arm64" },
    });
    expect(deployedHelperImage(resources, "arm64")).toBe("helper:arm64");
    expect(deployedHelperImage(resources, "x86_64")).toBe("helper:default");
    expect(deployedHelperImage(parseResources(base), "x86_64")).toBeUndefined();
  });
});
