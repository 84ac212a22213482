/**
 * Backstop before RunTask: Fargate accepts only certain task-level CPU/memory pairs (Linux) and 20 or 21–200 GiB
 * of ephemeral storage. The driver's sizing already rounds requests to a valid pair; should anything else reach
 * the backend, the job log gets a sentence naming what would be accepted instead of an opaque ECS error.
 */
import type { TaskSize } from "../../../config/schema.js";
import { fargateCombinations } from "../../sizing.js";

/** Undefined when Fargate accepts the size; otherwise a sentence for the job log. */
export function fargateSizeProblem(size: TaskSize): string | undefined {
  const memories = fargateCombinations.filter((c) => c.cpu === size.cpu).map((c) => c.memoryMiB);
  if (memories.length === 0) {
    const cpus = [...new Set(fargateCombinations.map((c) => c.cpu))];
    return `Fargate does not offer ${size.cpu} CPU units; choose one of ${cpus.join(", ")}`;
  }
  if (!memories.includes(size.memoryMiB)) {
    return `Fargate does not combine ${size.cpu} CPU units with ${size.memoryMiB} MiB of memory; with ${size.cpu} CPU units choose one of ${memories.join(", ")} MiB`;
  }
  if (size.ephemeralStorageGiB !== 20 && (size.ephemeralStorageGiB < 21 || size.ephemeralStorageGiB > 200)) {
    return `Fargate ephemeral storage must be 20 (the default) or 21–200 GiB, not ${size.ephemeralStorageGiB}`;
  }
  return undefined;
}
