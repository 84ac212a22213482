/**
 * Decodes the agent channel's byte stream as it is read into ONE reused buffer (the socket's `onread` option):
 * no Buffer per 16 KiB TLS record. An Output frame's data is copied once into a pooled buffer, handed on whole and
 * returned to the pool by `release()` once the consumer has written it. Allocating 200 MiB of short-lived buffers
 * per 200 MiB of job log made V8 run a full mark of the daemon's large heap every 64 MiB (external memory
 * pressure): that, not the bytes, was most of the daemon's CPU time.
 */
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from "./frames.js";
import { FrameType } from "./protocol.js";

/** Largest data part of an Output frame the agent sends (its read chunk), plus room for a longer one. */
const POOLED_BYTES = 256 * 1024;
/** Idle buffers kept for reuse, shared by every channel of the daemon (4 MiB at most). */
const POOL_LIMIT = 16;
const pool: Buffer[] = [];

function acquire(bytes: number): Buffer {
  if (bytes > POOLED_BYTES) return Buffer.allocUnsafeSlow(bytes);
  return pool.pop() ?? Buffer.allocUnsafeSlow(POOLED_BYTES);
}

function releaser(buffer: Buffer): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (buffer.length === POOLED_BYTES && pool.length < POOL_LIMIT) pool.push(buffer);
  };
}

export interface ChannelReaderHandlers {
  /** A non-Output frame (Hello, Control); the payload is the handler's to keep. */
  frame(type: number, payload: Buffer): void;
  /**
   * A step's output. `data` stays valid until `release()` is called; call it once nothing refers to the bytes any
   * more (never calling it is safe, the buffer then simply is not reused).
   */
  output(stepId: string, data: Buffer, release: () => void): void;
}

export class ChannelReader {
  private readonly header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private type = 0;
  /** Payload bytes of the current frame not yet consumed. */
  private remaining = 0;
  /** Whole payload of a non-Output frame, or the `[u8 id length][id]` prefix of an Output frame. */
  private head: Buffer | undefined;
  private headFilled = 0;
  private stepId = "";
  private data: Buffer | undefined;
  private dataFilled = 0;

  constructor(public handlers: ChannelReaderHandlers) {}

  /** Consumes `chunk[0, length)`; the chunk may be reused by the caller as soon as this returns. */
  push(chunk: Buffer, length: number): void {
    let at = 0;
    while (at < length) {
      if (this.headerFilled < FRAME_HEADER_BYTES) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, length - at);
        chunk.copy(this.header, this.headerFilled, at, at + n);
        this.headerFilled += n;
        at += n;
        if (this.headerFilled === FRAME_HEADER_BYTES) this.startFrame();
        continue;
      }
      at =
        this.type === FrameType.Output
          ? this.outputBytes(chunk, at, length)
          : this.frameBytes(chunk, at, length);
    }
  }

  private startFrame(): void {
    this.type = this.header.readUInt8(0);
    this.remaining = this.header.readUInt32BE(1);
    if (this.remaining > MAX_FRAME_BYTES)
      throw new Error(`frame of ${this.remaining} bytes exceeds the limit`);
    if (this.type === FrameType.Output && this.remaining < 1)
      throw new Error("output frame without a step id");
    this.head = undefined;
    this.headFilled = 0;
    this.data = undefined;
    this.dataFilled = 0;
    if (this.type !== FrameType.Output) {
      this.head = Buffer.allocUnsafe(this.remaining);
      if (this.remaining === 0) this.endFrame();
    }
  }

  private frameBytes(chunk: Buffer, at: number, length: number): number {
    const n = Math.min(this.remaining, length - at);
    chunk.copy(this.head as Buffer, this.headFilled, at, at + n);
    this.headFilled += n;
    this.remaining -= n;
    if (this.remaining === 0) this.endFrame();
    return at + n;
  }

  private outputBytes(chunk: Buffer, at: number, length: number): number {
    if (this.data === undefined) {
      // The prefix: its first byte says how long it is.
      if (this.head === undefined) {
        const idLength = chunk.readUInt8(at);
        if (1 + idLength > this.remaining) throw new Error("output frame shorter than its step id");
        this.head = Buffer.allocUnsafe(1 + idLength);
      }
      const n = Math.min(this.head.length - this.headFilled, length - at);
      chunk.copy(this.head, this.headFilled, at, at + n);
      this.headFilled += n;
      this.remaining -= n;
      if (this.headFilled < this.head.length) return at + n;
      this.stepId = this.head.toString("utf8", 1);
      this.data = acquire(this.remaining);
      if (this.remaining === 0) this.endFrame();
      return at + n;
    }
    const n = Math.min(this.remaining, length - at);
    chunk.copy(this.data, this.dataFilled, at, at + n);
    this.dataFilled += n;
    this.remaining -= n;
    if (this.remaining === 0) this.endFrame();
    return at + n;
  }

  private endFrame(): void {
    this.headerFilled = 0;
    const { type, head, data } = this;
    this.head = undefined;
    this.data = undefined;
    if (type !== FrameType.Output) {
      this.handlers.frame(type, head as Buffer);
      return;
    }
    const release = releaser(data as Buffer);
    if (this.dataFilled === 0) {
      release();
      return;
    }
    this.handlers.output(this.stepId, (data as Buffer).subarray(0, this.dataFilled), release);
  }
}
