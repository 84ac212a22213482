import { describe, expect, it } from "vitest";
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from "./frames.js";
import { allocOutputFrame, splitOutputParts } from "./protocol.js";

describe("frames", () => {
  it("decodes frames split and joined at any byte boundary", () => {
    const frames = [encodeFrame(1, "hello"), encodeFrame(3, Buffer.alloc(70_000, 7)), encodeFrame(2, "")];
    const all = Buffer.concat(frames);
    for (const cut of [1, 3, 5, 6, 4000, all.length - 1]) {
      const decoder = new FrameDecoder();
      const got = [...decoder.push(all.subarray(0, cut)), ...decoder.push(all.subarray(cut))];
      expect(got.map((f) => [f.type, f.payload.length])).toEqual([
        [1, 5],
        [3, 70_000],
        [2, 0],
      ]);
    }
  });
  it("refuses absurd lengths", () => {
    const header = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
    expect(() => new FrameDecoder().push(header)).toThrow(/exceeds/);
  });
  it("carries the step id with output bytes, however the payload was split", () => {
    const frame = allocOutputFrame("3-build_script", 6);
    Buffer.from("abcdef").copy(frame.buffer, frame.dataOffset);
    const payload = frame.finish(6).subarray(FRAME_HEADER_BYTES);
    for (const cuts of [[], [1], [5], [15], [15, 17], [3, 16, 18]]) {
      const parts: Buffer[] = [];
      let from = 0;
      for (const cut of [...cuts, payload.length]) {
        parts.push(payload.subarray(from, cut));
        from = cut;
      }
      const { stepId, data } = splitOutputParts(parts);
      expect(stepId).toBe("3-build_script");
      expect(Buffer.concat(data).toString()).toBe("abcdef");
      expect(data.every((piece) => piece.length > 0)).toBe(true);
    }
  });
});
