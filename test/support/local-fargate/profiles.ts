/**
 * How long each phase of a task takes. `fast` keeps tests quick; `realistic` follows published Fargate figures
 * (platform version 1.4, tasks of a few hundred MB): capacity placement and ENI attachment take seconds, the image
 * pull is a fixed cost plus a rate, and stopping waits for the ENI to detach.
 */
export interface PhaseDelays {
  /** PROVISIONING: capacity placement, before the ENI is attached. */
  provisioningMs: number;
  /** ENI creation and attachment (the task leaves PROVISIONING with its address after this). */
  eniAttachMs: number;
  /** Image pull: a fixed cost per image (manifest, layers' round trips)… */
  pullFixedMs: number;
  /** …plus this much per MiB of image (the pull's throughput). */
  pullMsPerMiB: number;
  /** From "pulled" to the containers' processes running (task setup, log driver, volumes). */
  containerStartMs: number;
  /** DEPROVISIONING: ENI detach and clean-up before the task shows STOPPED. */
  deprovisioningMs: number;
  /** Fargate Spot's warning before an interrupted task is stopped (two minutes on AWS). */
  spotWarningMs: number;
}

export const PROFILES = {
  fast: {
    provisioningMs: 20,
    eniAttachMs: 20,
    pullFixedMs: 0,
    pullMsPerMiB: 0,
    containerStartMs: 0,
    deprovisioningMs: 20,
    spotWarningMs: 1_500,
  },
  realistic: {
    provisioningMs: 4_000,
    eniAttachMs: 8_000,
    pullFixedMs: 2_000,
    // ~60 MiB/s from ECR inside a region
    pullMsPerMiB: 17,
    containerStartMs: 1_500,
    deprovisioningMs: 25_000,
    spotWarningMs: 120_000,
  },
} as const satisfies Record<string, PhaseDelays>;

export type ProfileName = keyof typeof PROFILES;

/** A named profile, optionally with some phases replaced. */
export function phaseDelays(
  profile: ProfileName | PhaseDelays = "fast",
  overrides: Partial<PhaseDelays> = {},
) {
  const base = typeof profile === "string" ? PROFILES[profile] : profile;
  return { ...base, ...overrides } satisfies PhaseDelays;
}

/** Pull time the profile gives an image of `bytes`. */
export function pullDelayMs(delays: PhaseDelays, bytes: number): number {
  return Math.round(delays.pullFixedMs + (bytes / (1024 * 1024)) * delays.pullMsPerMiB);
}
