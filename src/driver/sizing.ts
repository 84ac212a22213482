/**
 * Per-job size, capacity and architecture from CI variables, honoured only up to the runner configuration's caps
 * (like the Kubernetes executor's *_overwrite_max_allowed), then mapped onto a valid Fargate cpu/memory pair
 * (reference §4.3). Every adjustment produces a warning line for the job log; the outcomes are documented in
 * docs/job-variables.md.
 */
import type { Architecture, Capacity, TaskSize } from "../config/schema.js";

/** The job settings part of a runner configuration this module reads. */
export interface JobCaps {
  defaultSize: TaskSize;
  maxSize: TaskSize;
  capacity: Capacity;
  allowCapacityOverride: boolean;
  architectures: Architecture[];
  defaultArchitecture: Architecture;
}

/** Raw CI variable values (undefined = not set). */
export interface SizeRequest {
  cpu?: string;
  memory?: string;
  ephemeralStorage?: string;
  capacity?: string;
  architecture?: string;
  /** `image.executor_opts.docker.platform`, e.g. `linux/arm64`. */
  platform?: string;
}

export interface ResolvedSettings {
  size: TaskSize;
  capacity: Capacity;
  architecture: Architecture;
  warnings: string[];
}

const GiB = 1024;

/** All valid Fargate Linux task cpu/memory pairs, ascending. */
export const fargateCombinations: ReadonlyArray<{ cpu: number; memoryMiB: number }> = (() => {
  const out: { cpu: number; memoryMiB: number }[] = [];
  const add = (cpu: number, from: number, to: number, step: number) => {
    for (let m = from; m <= to; m += step) out.push({ cpu, memoryMiB: m });
  };
  add(256, 512, 512, 1);
  add(256, 1024, 2048, 1024);
  add(512, 1024, 4096, 1024);
  add(1024, 2048, 8192, 1024);
  add(2048, 4096, 16384, 1024);
  add(4096, 8192, 30720, 1024);
  add(8192, 16 * GiB, 60 * GiB, 4 * GiB);
  add(16384, 32 * GiB, 120 * GiB, 8 * GiB);
  return out;
})();

/** `2`, `0.5` (vCPU), `500m` (millicpu) or `1024` (cpu units, values ≥ 256) → cpu units. */
export function parseCpu(value: string): number | undefined {
  const v = value.trim();
  const milli = /^(\d+)m$/.exec(v);
  if (milli) return Math.round((Number(milli[1]) / 1000) * 1024);
  if (!/^\d+(\.\d+)?$/.test(v)) return undefined;
  const n = Number(v);
  if (n <= 0) return undefined;
  return n >= 256 ? Math.round(n) : Math.round(n * 1024);
}

/** `4096` (MiB), `512Mi`/`512M`, `4Gi`/`4G` → MiB. */
export function parseMemoryMiB(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(Mi|M|Gi|G)?$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n <= 0) return undefined;
  return Math.ceil(m[2]?.startsWith("G") ? n * GiB : n);
}

/** `50` or `50Gi`/`50G` → GiB. */
export function parseStorageGiB(value: string): number | undefined {
  const m = /^(\d+)\s*(Gi|G)?$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n > 0 ? n : undefined;
}

export function parseCapacity(value: string): Capacity | undefined {
  const v = value.trim().toLowerCase();
  if (["spot", "fargate_spot"].includes(v)) return "FARGATE_SPOT";
  if (["on-demand", "ondemand", "on_demand", "fargate"].includes(v)) return "FARGATE";
  return undefined;
}

export function parseArchitecture(value: string): Architecture | undefined {
  const v = value
    .trim()
    .toLowerCase()
    .replace(/^linux\//, "");
  if (["x86_64", "amd64", "x86-64"].includes(v)) return "x86_64";
  if (["arm64", "aarch64", "arm64/v8"].includes(v)) return "arm64";
  return undefined;
}

const vcpu = (units: number) => `${units / 1024} vCPU`;

/**
 * Smallest valid combination covering the request within the caps; when the caps leave no combination that
 * covers it, the largest one within the caps (the request was already clamped, so this only happens when the
 * caps themselves are not a valid pair).
 */
export function toFargateCombination(
  cpu: number,
  memoryMiB: number,
  caps: { cpu: number; memoryMiB: number },
): { cpu: number; memoryMiB: number } {
  const allowed = fargateCombinations.filter((c) => c.cpu <= caps.cpu && c.memoryMiB <= caps.memoryMiB);
  const covering = allowed.find((c) => c.cpu >= cpu && c.memoryMiB >= memoryMiB);
  if (covering) return covering;
  // Prefer meeting the memory (jobs get OOM-killed) then cpu, among what the caps allow.
  const score = (c: { cpu: number; memoryMiB: number }) =>
    Math.min(c.memoryMiB / memoryMiB, 1) * 2 + Math.min(c.cpu / cpu, 1);
  const best = [...allowed].sort(
    (a, b) => score(b) - score(a) || a.cpu - b.cpu || a.memoryMiB - b.memoryMiB,
  )[0];
  return best ?? { cpu: 256, memoryMiB: 512 };
}

export function resolveSettings(request: SizeRequest, caps: JobCaps): ResolvedSettings {
  const warnings: string[] = [];
  const numeric = (
    name: string,
    raw: string | undefined,
    parse: (v: string) => number | undefined,
    fallback: number,
    max: number,
    show: (n: number) => string,
  ): number => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const parsed = parse(raw);
    if (parsed === undefined) {
      warnings.push(
        `${name}=${JSON.stringify(raw)} is not a valid value; using the default ${show(fallback)}`,
      );
      return fallback;
    }
    if (parsed > max) {
      warnings.push(`${name}=${raw} is above this runner's maximum (${show(max)}); using ${show(max)}`);
      return max;
    }
    return parsed;
  };

  const cpu = numeric("SGR_CPU", request.cpu, parseCpu, caps.defaultSize.cpu, caps.maxSize.cpu, vcpu);
  const memory = numeric(
    "SGR_MEMORY",
    request.memory,
    parseMemoryMiB,
    caps.defaultSize.memoryMiB,
    caps.maxSize.memoryMiB,
    (n) => `${n} MiB`,
  );
  let storage = numeric(
    "SGR_EPHEMERAL_STORAGE",
    request.ephemeralStorage,
    parseStorageGiB,
    caps.defaultSize.ephemeralStorageGiB,
    caps.maxSize.ephemeralStorageGiB,
    (n) => `${n} GiB`,
  );
  if (storage < 20) {
    warnings.push(
      `SGR_EPHEMERAL_STORAGE=${request.ephemeralStorage} is below Fargate's minimum; using 20 GiB`,
    );
    storage = 20;
  }

  const combination = toFargateCombination(cpu, memory, caps.maxSize);
  if (combination.cpu !== cpu || combination.memoryMiB !== memory) {
    warnings.push(
      `${vcpu(cpu)} / ${memory} MiB is not a Fargate size; using ${vcpu(combination.cpu)} / ${combination.memoryMiB} MiB`,
    );
  }

  // Architecture first: it constrains the capacity (Fargate Spot runs no ARM64 Linux task).
  const architecture = resolveArchitecture(request, caps, warnings);
  const capacity = capacityFor(architecture, resolveCapacity(request, caps, warnings), warnings);
  return {
    size: { cpu: combination.cpu, memoryMiB: combination.memoryMiB, ephemeralStorageGiB: storage },
    capacity,
    architecture,
    warnings,
  };
}

/** SGR_CAPACITY, where the runner lets a job choose; else the runner's capacity (with a warning saying why). */
function resolveCapacity(
  request: SizeRequest,
  caps: JobCaps,
  warnings: string[],
): ResolvedSettings["capacity"] {
  let capacity = caps.capacity;
  if (request.capacity !== undefined && request.capacity.trim() !== "") {
    const parsed = parseCapacity(request.capacity);
    if (parsed === undefined) {
      warnings.push(
        `SGR_CAPACITY=${JSON.stringify(request.capacity)} is not spot or on-demand; using ${capacity}`,
      );
    } else if (!caps.allowCapacityOverride && parsed !== caps.capacity) {
      warnings.push(`SGR_CAPACITY is not allowed to change capacity on this runner; using ${capacity}`);
    } else {
      capacity = parsed;
    }
  }
  return capacity;
}

/** Fargate Spot does not support ARM64 Linux tasks: an arm64 job always runs on-demand, and its log says so. */
function capacityFor(architecture: Architecture, capacity: Capacity, warnings: string[]): Capacity {
  if (architecture !== "arm64" || capacity !== "FARGATE_SPOT") return capacity;
  warnings.push("Fargate Spot does not run arm64 tasks; this arm64 job runs on on-demand FARGATE");
  return "FARGATE";
}

/** SGR_ARCH, else the image's platform, where the runner offers it; else the runner's default architecture. */
function resolveArchitecture(
  request: SizeRequest,
  caps: JobCaps,
  warnings: string[],
): ResolvedSettings["architecture"] {
  let architecture = caps.defaultArchitecture;
  const archSource =
    request.architecture !== undefined && request.architecture.trim() !== ""
      ? { name: "SGR_ARCH", raw: request.architecture }
      : request.platform
        ? { name: "image platform", raw: request.platform }
        : undefined;
  if (archSource) {
    const parsed = parseArchitecture(archSource.raw);
    if (parsed === undefined) {
      warnings.push(
        `${archSource.name}=${JSON.stringify(archSource.raw)} is not x86_64 or arm64; using ${architecture}`,
      );
    } else if (!caps.architectures.includes(parsed)) {
      warnings.push(
        `${archSource.name}=${archSource.raw} is not offered by this runner; using ${architecture}`,
      );
    } else {
      architecture = parsed;
    }
  }
  return architecture;
}
