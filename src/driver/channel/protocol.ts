/**
 * The daemon ↔ agent channel protocol. One TLS connection per job carries every step of that job.
 *
 * Authentication binds the per-job secret to the TLS session: each side proves knowledge of the secret with
 * HMAC(secret, role ‖ exported keying material). A transcript captured from one session is useless in another, and
 * a man in the middle (who terminates two TLS sessions) cannot forward the proofs — without the secret, nothing
 * works. The agent's certificate is ephemeral and self-signed, so the proof (not the certificate) authenticates it.
 *
 * Resumability: every step's output is a byte stream stored by the agent; the driver attaches at the offset it
 * has received so far, so after a reconnect no byte is lost or duplicated, and a step keeps running meanwhile.
 *
 * The agent is Go (src/agent: channel.go, server.go); this module is the driver's side and the reference for both.
 * src/agent/agent.test.ts runs the built agent against it.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { FRAME_HEADER_BYTES } from "./frames.js";

export const FrameType = {
  /** JSON `{ proof }`: the first frame each side sends. */
  Hello: 1,
  /** JSON control message (see ControlMessage). */
  Control: 2,
  /** Output bytes: `[u8 stepId length][stepId][data]`. */
  Output: 3,
} as const;

export const EKM_LABEL = "EXPORTER-sgr-agent-channel";

export type StepTarget = "helper" | "build";

/** Driver → agent. */
export type DriverMessage =
  | { op: "start"; stepId: string; target: StepTarget; script: string }
  | { op: "attach"; stepId: string; offset: number }
  | { op: "signal"; stepId: string }
  | { op: "release"; stepId: string }
  | { op: "waitPorts"; id: number; ports: number[]; timeoutMs: number }
  /** Liveness: the agent answers with `pong`, so a silently dead connection is noticed while a step is quiet. */
  | { op: "ping" }
  /**
   * Replaces the job secret with one that never left the manager: the first secret travelled in a RunTask
   * override (readable with ecs:DescribeTasks); once rotated, knowing it gets nobody in.
   */
  | { op: "rekey"; secret: string };

/** Agent → driver. */
export type AgentMessage =
  | { op: "exit"; stepId: string; code: number; length: number }
  | { op: "stepError"; stepId: string; message: string }
  | { op: "portsReady"; id: number; ready: number[]; notReady: number[] }
  | { op: "pong" }
  | { op: "rekeyed" };

export const SECRET_PATTERN = /^[0-9a-f]{64}$/;

export function channelProof(secret: string, role: "driver" | "agent", socket: TLSSocket): Buffer {
  const material = socket.exportKeyingMaterial(32, EKM_LABEL, Buffer.from("v1"));
  return createHmac("sha256", secret).update(role).update(material).digest();
}

export function proofMatches(expected: Buffer, hexGiven: unknown): boolean {
  if (typeof hexGiven !== "string" || !/^[0-9a-f]{64}$/.test(hexGiven)) return false;
  return timingSafeEqual(expected, Buffer.from(hexGiven, "hex"));
}

/**
 * A whole Output frame allocated up front, so file data can be read directly into it; `finish(n)` fills in the
 * header for n data bytes and returns the frame to send.
 */
export interface OutputFrame {
  buffer: Buffer;
  dataOffset: number;
  finish(n: number): Buffer;
}

export function allocOutputFrame(stepId: string, maxData: number): OutputFrame {
  const id = Buffer.from(stepId, "utf8");
  const dataOffset = FRAME_HEADER_BYTES + 1 + id.length;
  const buffer = Buffer.allocUnsafe(dataOffset + maxData);
  buffer.writeUInt8(FrameType.Output, 0);
  buffer.writeUInt8(id.length, FRAME_HEADER_BYTES);
  id.copy(buffer, FRAME_HEADER_BYTES + 1);
  return {
    buffer,
    dataOffset,
    finish: (n) => {
      buffer.writeUInt32BE(1 + id.length + n, 1);
      return buffer.subarray(0, dataOffset + n);
    },
  };
}

/** Output payload in pieces (as the decoder delivers it) → step id and data pieces, without copying the data. */
export function splitOutputParts(parts: Buffer[]): { stepId: string; data: Buffer[] } {
  const first = parts[0] ?? Buffer.alloc(0);
  const idLength = first.readUInt8(0);
  // The step id is tiny; join the pieces only in the unlikely case it straddles two of them.
  const head = first.length >= 1 + idLength ? first : Buffer.concat(parts).subarray(0, 1 + idLength);
  const stepId = head.subarray(1, 1 + idLength).toString("utf8");
  let skip = 1 + idLength;
  const data: Buffer[] = [];
  for (const part of parts) {
    if (skip >= part.length) {
      skip -= part.length;
      continue;
    }
    data.push(skip > 0 ? part.subarray(skip) : part);
    skip = 0;
  }
  return { stepId, data };
}
