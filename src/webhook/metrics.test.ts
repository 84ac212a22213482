import { afterEach, describe, expect, it, vi } from "vitest";
import { powertoolsDeliveryMetrics } from "./metrics.js";

describe("webhook metrics (Powertools EMF)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes one EMF line per flush with what was counted, and nothing when nothing was", () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const { metrics, flush } = powertoolsDeliveryMetrics("webhook");
    flush();
    expect(lines).toEqual([]);
    metrics.count("WebhookAccepted");
    metrics.count("JobEventsPublished", 3);
    flush();
    const emf = lines.map((line) => JSON.parse(line)).find((entry) => entry._aws);
    expect(emf).toMatchObject({ service: "webhook", WebhookAccepted: 1, JobEventsPublished: 3 });
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe("ServerlessGitlabRunner");
    const written = lines.length;
    flush();
    expect(lines).toHaveLength(written);
  });
});
