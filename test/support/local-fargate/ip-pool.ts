/**
 * Private IPv4 addresses for emulated awsvpc tasks: 127.0.0.N only (all of 127.0.0.0/8 is on `lo`), one per
 * task, never handed out again while a task holds it. 127.0.0.1 stays the host's own.
 */
export class LoopbackAddressPool {
  private readonly inUse = new Set<number>();
  private next: number;

  /**
   * `start` is where the round robin begins; by default a random address of the pool, so that test processes
   * running side by side on one machine rarely hand out the same address at the same time.
   */
  constructor(
    private readonly first = 2,
    private readonly last = 254,
    start = first + Math.floor(Math.random() * (last - first + 1)),
  ) {
    if (first < 2 || last > 254 || first > last)
      throw new Error(`bad loopback pool 127.0.0.${first}-${last}`);
    this.next = Math.min(Math.max(start, first), last);
  }

  /** The next free address (round robin, so a released address is not reused at once). */
  take(): string {
    const size = this.last - this.first + 1;
    for (let i = 0; i < size; i++) {
      const n = this.next;
      this.next = n === this.last ? this.first : n + 1;
      if (!this.inUse.has(n)) {
        this.inUse.add(n);
        return `127.0.0.${n}`;
      }
    }
    throw new Error(`all ${size} task addresses (127.0.0.${this.first}-${this.last}) are in use`);
  }

  release(address: string): void {
    const n = Number(address.split(".")[3]);
    this.inUse.delete(n);
  }

  get used(): number {
    return this.inUse.size;
  }
}

/** One pool per process: local Fargates started side by side in one test process never share an address. */
export const processAddressPool = new LoopbackAddressPool();
