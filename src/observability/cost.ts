/**
 * What Fargate (and ECS Managed Instances) compute costs: a per-region price table and the cost of one task run. Used by the CLI's
 * `status` (estimated cost this month) and for cost per job. Prices are public list prices (Linux, USD, per
 * hour) and change rarely; Fargate Spot is priced as a discount on on-demand because its real price moves
 * per region and over time. An estimate, never a bill: the AWS bill stays the source of truth.
 */
import type { Architecture, JobCapacity } from "../config/schema.js";

/** On-demand Fargate list prices for Linux tasks, USD per hour. */
export interface FargatePrices {
  vcpuHour: Record<Architecture, number>;
  gbHour: Record<Architecture, number>;
  /** Ephemeral storage beyond the 20 GiB included, per GB-hour. */
  storageGbHour: number;
}

/** Fraction of the on-demand price Fargate Spot charges (AWS advertises "up to 70% off"). */
export const SPOT_PRICE_FACTOR = 0.3;
/** Ephemeral storage Fargate includes in every task without charge. */
export const INCLUDED_STORAGE_GIB = 20;
/**
 * A public IPv4 address, per hour, in every region. A task given one (`assignPublicIp`, the default network's way
 * out) pays it for its whole run, on Spot too: Spot discounts compute, not addresses.
 */
export const PUBLIC_IPV4_USD_HOUR = 0.005;

const US_EAST: FargatePrices = {
  vcpuHour: { x86_64: 0.04048, arm64: 0.03238 },
  gbHour: { x86_64: 0.004445, arm64: 0.00356 },
  storageGbHour: 0.000111,
};

/** Regions with a known price; others fall back to us-east-1 and say so (`priceRegion` in the estimate). */
export const FARGATE_PRICES: Readonly<Record<string, FargatePrices>> = {
  "us-east-1": US_EAST,
  "us-east-2": US_EAST,
  "us-west-2": US_EAST,
  "eu-west-1": US_EAST,
  "eu-central-1": {
    vcpuHour: { x86_64: 0.04656, arm64: 0.03725 },
    gbHour: { x86_64: 0.00511, arm64: 0.00409 },
    storageGbHour: 0.000119,
  },
};
export const DEFAULT_PRICE_REGION = "us-east-1";

/**
 * ECS Managed Instances: a job pays its share of the EC2 instance it is placed on plus the Managed Instances
 * management fee on that share. The EC2 rates are general-purpose on-demand list prices (m7i.large for x86_64,
 * m7g.large for arm64) split per vCPU and per GB in Fargate's own vCPU:GB price ratio; `gpuHour` is what a
 * g5.xlarge costs beyond its vCPUs and memory (one NVIDIA A10G).
 */
export interface ManagedInstancesPrices {
  vcpuHour: Record<Architecture, number>;
  gbHour: Record<Architecture, number>;
  gpuHour: number;
}

/**
 * The management fee as a fraction of the instance's on-demand price. AWS prices it per instance type, per hour;
 * for current general-purpose types it is about this share of the instance's own price.
 */
export const MANAGED_INSTANCES_FEE_FACTOR = 0.12;

const MI_US_EAST: ManagedInstancesPrices = {
  vcpuHour: { x86_64: 0.03502, arm64: 0.02834 },
  gbHour: { x86_64: 0.003845, arm64: 0.003116 },
  gpuHour: 0.805,
};

/** Regions with a known Managed Instances price; the same fallback as FARGATE_PRICES. */
export const MANAGED_INSTANCES_PRICES: Readonly<Record<string, ManagedInstancesPrices>> = {
  "us-east-1": MI_US_EAST,
  "us-east-2": MI_US_EAST,
  "us-west-2": MI_US_EAST,
  "eu-west-1": {
    vcpuHour: { x86_64: 0.03905, arm64: 0.03155 },
    gbHour: { x86_64: 0.004288, arm64: 0.003469 },
    gpuHour: 0.89,
  },
  "eu-central-1": {
    vcpuHour: { x86_64: 0.04199, arm64: 0.03378 },
    gbHour: { x86_64: 0.004609, arm64: 0.003709 },
    gpuHour: 0.97,
  },
};

/** The size and placement of one task, as far as price is concerned. */
export interface PricedTask {
  cpu: number;
  memoryMiB: number;
  ephemeralStorageGiB?: number;
  architecture: Architecture;
  capacity: JobCapacity;
  /** The task holds a public IPv4 address while it runs. */
  publicIpv4?: boolean;
  /** GPUs reserved for the task (Managed Instances only). */
  gpus?: number;
}

export interface CostEstimate {
  usd: number;
  /** Region whose prices were used (differs from the asked one when that one is not in the table). */
  priceRegion: string;
}

export function pricesFor(region: string): { prices: FargatePrices; priceRegion: string } {
  const known = FARGATE_PRICES[region];
  if (known) return { prices: known, priceRegion: region };
  return { prices: FARGATE_PRICES[DEFAULT_PRICE_REGION] as FargatePrices, priceRegion: DEFAULT_PRICE_REGION };
}

/**
 * Cost of running `task` for `seconds` in `region`. Fargate bills per second with a one-minute minimum, so a
 * 10-second job costs a minute. Negative or non-finite durations are a caller bug and throw.
 */
export function taskCost(task: PricedTask, seconds: number, region: string): CostEstimate {
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new RangeError(`duration must be ≥ 0 seconds, got ${seconds}`);
  const { prices, priceRegion } = pricesFor(region);
  if (seconds === 0) return { usd: 0, priceRegion };
  const hours = Math.max(seconds, 60) / 3600;
  const vcpu = task.cpu / 1024;
  const memoryGb = task.memoryMiB / 1024;
  const address = task.publicIpv4 ? hours * PUBLIC_IPV4_USD_HOUR : 0;
  if (task.capacity === "MANAGED_INSTANCES") {
    const mi = MANAGED_INSTANCES_PRICES[priceRegion] ?? MI_US_EAST;
    const instanceShare =
      hours *
      (vcpu * mi.vcpuHour[task.architecture] +
        memoryGb * mi.gbHour[task.architecture] +
        (task.gpus ?? 0) * mi.gpuHour);
    return { usd: instanceShare * (1 + MANAGED_INSTANCES_FEE_FACTOR) + address, priceRegion };
  }
  const extraStorageGb = Math.max(
    0,
    (task.ephemeralStorageGiB ?? INCLUDED_STORAGE_GIB) - INCLUDED_STORAGE_GIB,
  );
  const onDemand =
    hours *
    (vcpu * prices.vcpuHour[task.architecture] +
      memoryGb * prices.gbHour[task.architecture] +
      extraStorageGb * prices.storageGbHour);
  const factor = task.capacity === "FARGATE_SPOT" ? SPOT_PRICE_FACTOR : 1;
  return { usd: onDemand * factor + address, priceRegion };
}
