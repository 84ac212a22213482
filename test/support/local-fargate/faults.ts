/**
 * Faults on demand, for tests: what ECS Fargate does on a bad day. Each is armed for a number of calls (or for
 * good with `Infinity`) and consumed as RunTask meets it.
 */
import { EcsError } from "./ecs-errors.js";

export class Faults {
  private spotShortages = 0;
  private throttles = 0;
  private stuck = 0;

  /** The next `times` FARGATE_SPOT RunTask calls fail with "Capacity is unavailable at this time…". */
  spotCapacityUnavailable(times = 1): void {
    this.spotShortages = times;
  }

  /** The next `times` RunTask calls answer ThrottlingException "Rate exceeded". */
  throttleRunTask(times = 1): void {
    this.throttles = times;
  }

  /** The next `times` tasks started stay PENDING (ENI attached, nothing pulled) until stopped. */
  neverLeavePending(times = 1): void {
    this.stuck = times;
  }

  /** Clears every armed fault. */
  reset(): void {
    this.spotShortages = 0;
    this.throttles = 0;
    this.stuck = 0;
  }

  takeThrottle(): void {
    if (this.throttles <= 0) return;
    this.throttles--;
    throw new EcsError("ThrottlingException", "Rate exceeded");
  }

  takeSpotShortage(): boolean {
    if (this.spotShortages <= 0) return false;
    this.spotShortages--;
    return true;
  }

  takeStuckInPending(): boolean {
    if (this.stuck <= 0) return false;
    this.stuck--;
    return true;
  }
}
