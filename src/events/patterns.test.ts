import { describe, expect, it } from "vitest";
import {
  JOB_EVENT_DETAIL_TYPE,
  JOB_EVENT_SOURCE,
  JOB_STATUS_PATTERN,
  PENDING_JOB_PATTERN,
  toCdkEventPattern,
} from "./patterns.js";

describe("job event rule patterns", () => {
  it("select our source and detail-type; scale-up only pending jobs", () => {
    expect(PENDING_JOB_PATTERN).toEqual({
      source: [JOB_EVENT_SOURCE],
      "detail-type": [JOB_EVENT_DETAIL_TYPE],
      detail: { status: ["pending"] },
    });
    expect(JOB_STATUS_PATTERN).toEqual({
      source: [JOB_EVENT_SOURCE],
      "detail-type": [JOB_EVENT_DETAIL_TYPE],
    });
  });

  it("convert to the CDK shape without sharing mutable state", () => {
    const cdk = toCdkEventPattern(PENDING_JOB_PATTERN);
    expect(cdk).toEqual({
      source: [JOB_EVENT_SOURCE],
      detailType: [JOB_EVENT_DETAIL_TYPE],
      detail: { status: ["pending"] },
    });
    (cdk.detail!.status as string[]).push("running");
    expect(PENDING_JOB_PATTERN.detail.status).toEqual(["pending"]);
    expect(toCdkEventPattern(JOB_STATUS_PATTERN)).not.toHaveProperty("detail");
  });
});
