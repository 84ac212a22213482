import { describe, expect, it } from "vitest";
import { ChannelReader } from "./channel-reader.js";
import { encodeJsonFrame } from "./frames.js";
import { allocOutputFrame, FrameType } from "./protocol.js";

function outputFrame(stepId: string, data: Buffer): Buffer {
  const frame = allocOutputFrame(stepId, data.length);
  data.copy(frame.buffer, frame.dataOffset);
  return Buffer.from(frame.finish(data.length));
}

interface Seen {
  frames: Array<{ type: number; text: string }>;
  outputs: Array<{ stepId: string; data: string }>;
}

/** Feeds `stream` in pieces of `size` bytes through one reused buffer, as the socket's onread does. */
function feed(stream: Buffer, size: number, releaseAtOnce = true): Seen {
  const seen: Seen = { frames: [], outputs: [] };
  const reader = new ChannelReader({
    frame: (type, payload) => seen.frames.push({ type, text: payload.toString("utf8") }),
    output: (stepId, data, release) => {
      seen.outputs.push({ stepId, data: data.toString("latin1") });
      if (releaseAtOnce) release();
    },
  });
  const reused = Buffer.alloc(size);
  for (let at = 0; at < stream.length; at += size) {
    const n = stream.copy(reused, 0, at, Math.min(at + size, stream.length));
    reader.push(reused, n);
    reused.fill(0xee); // what the next read would overwrite: the reader must have copied what it keeps
  }
  return seen;
}

describe("ChannelReader", () => {
  const big = Buffer.from(
    Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(32 + (i % 90))).join(""),
  );
  const stream = Buffer.concat([
    encodeJsonFrame(FrameType.Hello, { proof: "p" }),
    outputFrame("step-1", Buffer.from("hello\n")),
    encodeJsonFrame(FrameType.Control, { op: "pong" }),
    outputFrame("step-2", big),
    outputFrame("step-1", Buffer.alloc(0)),
    encodeJsonFrame(FrameType.Control, { op: "exit", stepId: "step-1", code: 0, length: 6 }),
  ]);

  it.each([1, 3, 5, 7, 16_384, 65_536, stream.length])(
    "decodes every frame whole and in order when read %i bytes at a time",
    (size) => {
      const seen = feed(stream, size);
      expect(seen.frames).toEqual([
        { type: FrameType.Hello, text: '{"proof":"p"}' },
        { type: FrameType.Control, text: '{"op":"pong"}' },
        { type: FrameType.Control, text: '{"op":"exit","stepId":"step-1","code":0,"length":6}' },
      ]);
      // The empty output frame carries nothing and is not delivered.
      expect(seen.outputs.map((o) => o.stepId)).toEqual(["step-1", "step-2"]);
      expect(seen.outputs[0]?.data).toBe("hello\n");
      expect(seen.outputs[1]?.data).toBe(big.toString("latin1"));
    },
  );

  it("does not reuse an output buffer before it is released", () => {
    const held: Array<{ data: Buffer; copy: string; release: () => void }> = [];
    const reader = new ChannelReader({
      frame: () => {},
      output: (_stepId, data, release) => held.push({ data, copy: data.toString("latin1"), release }),
    });
    for (let i = 0; i < 4; i++) {
      const frame = outputFrame("s", Buffer.alloc(1000, 65 + i));
      reader.push(frame, frame.length);
    }
    // Unreleased: each frame's bytes are intact although later frames were decoded meanwhile.
    for (const h of held) expect(h.data.toString("latin1")).toBe(h.copy);
    for (const h of held) h.release();
    const frame = outputFrame("s", Buffer.alloc(1000, 90));
    reader.push(frame, frame.length);
    expect(held.at(-1)?.data.toString("latin1")).toBe("Z".repeat(1000));
  });

  it("refuses a frame longer than the limit and an output frame shorter than its step id", () => {
    const reader = new ChannelReader({ frame: () => {}, output: () => {} });
    const huge = Buffer.from([FrameType.Control, 0xff, 0xff, 0xff, 0xff]);
    expect(() => reader.push(huge, huge.length)).toThrow(/exceeds the limit/);
    const short = Buffer.from([FrameType.Output, 0, 0, 0, 2, 5, 65]);
    expect(() => new ChannelReader({ frame: () => {}, output: () => {} }).push(short, short.length)).toThrow(
      /shorter than its step id/,
    );
  });
});
