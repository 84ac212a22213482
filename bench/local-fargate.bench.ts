/**
 * The local Fargate's task start: RunTask → RUNNING for a one-container busybox task.
 * - `fast` profile: what the emulator itself costs (podman pull, pod and container creation, start), median of
 *   BENCH_LOCAL_FARGATE_RUNS (default 3);
 * - `realistic` profile: the modelled Fargate start (placement, ENI, pull by image size, container start) against
 *   the sum of those modelled phases, as a ratio (≥ 1; what is above 1 is the emulator's own cost).
 * Deprovisioning is shortened in both (it is not on the measured path). Standalone:
 * `tsx bench/local-fargate.bench.ts` (starts its own moto when AWS_ENDPOINT_URL is unset).
 */

import { pathToFileURL } from "node:url";
import {
  CreateClusterCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from "@aws-sdk/client-ecs";
import { testImages } from "../test/local-fargate/test-images.js";
import { imageFacts } from "../test/support/local-fargate/images.js";
import { PROFILES, type ProfileName, startLocalFargate } from "../test/support/local-fargate/index.js";
import { pullDelayMs } from "../test/support/local-fargate/profiles.js";
import { type MotoServer, motoEnv, startMoto } from "../test/support/moto.js";
import { type BenchRow, type BenchSuite, median } from "./types.js";

const RUNS = Number(process.env.BENCH_LOCAL_FARGATE_RUNS ?? 3);
const ms = (value: number) => `${value.toFixed(0)} ms`;

async function startTimes(motoEndpoint: string, profile: ProfileName, runs: number): Promise<number[]> {
  const images = await testImages();
  const fargate = await startLocalFargate({ motoEndpoint, profile, delays: { deprovisioningMs: 50 } });
  const ecs = new ECSClient({ endpoint: fargate.endpoint, region: "us-east-1" });
  const cluster = `bench-${fargate.instance}`;
  try {
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: `bench-${fargate.instance}`,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "256",
        memory: "512",
        containerDefinitions: [
          {
            name: "main",
            image: images.busybox,
            essential: true,
            entryPoint: ["/bin/sh", "-c"],
            command: ["sleep 1"],
          },
        ],
      }),
    );
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const asked = Date.now();
      const out = await ecs.send(
        new RunTaskCommand({
          cluster,
          taskDefinition: td.taskDefinition!.taskDefinitionArn,
          launchType: "FARGATE",
          networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-1"] } },
        }),
      );
      const record = await fargate.waitFor(out.tasks![0]!.taskArn!, "RUNNING", 120_000);
      times.push(record.reachedAt.RUNNING! - asked);
      await fargate.waitFor(out.tasks![0]!.taskArn!, "STOPPED", 120_000);
    }
    return times;
  } finally {
    ecs.destroy();
    await fargate.stop();
  }
}

const suite: BenchSuite = {
  name: "local-fargate",
  async run(): Promise<BenchRow[]> {
    let moto: MotoServer | undefined;
    if (!process.env.AWS_ENDPOINT_URL) {
      moto = await startMoto();
      Object.assign(process.env, motoEnv(moto.endpoint));
    }
    try {
      const endpoint = process.env.AWS_ENDPOINT_URL!;
      const fast = median(await startTimes(endpoint, "fast", RUNS));
      const realistic = median(await startTimes(endpoint, "realistic", 1));
      const d = PROFILES.realistic;
      const facts = await imageFacts((await testImages()).busybox);
      const floor = d.provisioningMs + d.eniAttachMs + pullDelayMs(d, facts.sizeBytes) + d.containerStartMs;
      return [
        { metric: "fast profile: RunTask → RUNNING (emulator cost, median)", value: ms(fast) },
        { metric: "realistic profile: RunTask → RUNNING", value: ms(realistic) },
        { metric: "realistic profile: modelled floor (placement + ENI + pull + start)", value: ms(floor) },
        { metric: "realistic / modelled floor", value: (realistic / floor).toFixed(2) },
      ];
    } finally {
      await moto?.stop();
    }
  },
};
export default suite;

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  suite.run().then((rows) => {
    for (const row of rows) console.log(`${row.metric}: ${row.value}`);
  });
}
