/**
 * Length-prefixed frames shared by every socket protocol of the driver: client ↔ daemon (Unix socket) and
 * daemon ↔ agent (TLS). A frame is `[u8 type][u32 big-endian length][payload]`; small and trivially implemented in
 * Go too (the thin client, src/driver/client-go; the agent, src/agent/frames.go).
 */
export const FRAME_HEADER_BYTES = 5;
/** Refuse absurd lengths instead of buffering them (a garbage or hostile peer). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export interface Frame {
  type: number;
  payload: Buffer;
}

export function frameHeader(type: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(length, 1);
  return header;
}

export function encodeFrame(type: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

export function encodeJsonFrame(type: number, value: unknown): Buffer {
  return encodeFrame(type, JSON.stringify(value));
}

/**
 * Accumulates socket chunks and yields complete frames without copying their bytes: a 256 KiB output frame arrives
 * as ~16 TLS records, and its `parts` are slices of those records. `payload` joins them when a caller wants one
 * buffer (control frames, small and rare).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): DecodedFrame[] {
    if (chunk.length > 0) this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: DecodedFrame[] = [];
    while (this.buffered >= FRAME_HEADER_BYTES) {
      const header = this.headerBytes();
      const length = header.readUInt32BE(1);
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes exceeds the limit`);
      if (this.buffered < FRAME_HEADER_BYTES + length) break;
      this.take(FRAME_HEADER_BYTES);
      frames.push(new DecodedFrame(header.readUInt8(0), this.take(length)));
    }
    return frames;
  }

  /** The next 5 bytes, joined only when a chunk boundary falls inside them. */
  private headerBytes(): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= FRAME_HEADER_BYTES) return first.subarray(0, FRAME_HEADER_BYTES);
    const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    let filled = 0;
    for (const chunk of this.chunks) {
      filled += chunk.copy(out, filled, 0, Math.min(chunk.length, FRAME_HEADER_BYTES - filled));
      if (filled === FRAME_HEADER_BYTES) break;
    }
    return out;
  }

  /** Removes `bytes` from the front, as slices of the received chunks. */
  private take(bytes: number): Buffer[] {
    const parts: Buffer[] = [];
    let remaining = bytes;
    while (remaining > 0) {
      const first = this.chunks[0] as Buffer;
      if (first.length <= remaining) {
        parts.push(first);
        this.chunks.shift();
        remaining -= first.length;
      } else {
        parts.push(first.subarray(0, remaining));
        this.chunks[0] = first.subarray(remaining);
        remaining = 0;
      }
    }
    this.buffered -= bytes;
    return parts;
  }
}

export class DecodedFrame implements Frame {
  private joined: Buffer | undefined;

  constructor(
    readonly type: number,
    /** The payload as received, in pieces (no copy). */
    readonly parts: Buffer[],
  ) {}

  get payload(): Buffer {
    this.joined ??= this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    return this.joined;
  }
}
