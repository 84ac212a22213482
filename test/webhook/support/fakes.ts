/**
 * In-process stand-ins for the webhook's AWS dependencies, for unit tests and the warm-path benchmark
 * (integration tests use moto instead). Each records what it was asked so tests can assert on it.
 */
import type { PutEventsRequest, PutEventsRequestEntry, PutEventsResponse } from "@aws-sdk/client-eventbridge";
import type { WebhookSecrets } from "../../../src/gitlab/authenticate.js";
import type { ClaimOutcome, DeliveryLedger } from "../../../src/gitlab/delivery-ledger.js";
import { decodeSigningToken } from "../../../src/gitlab/signature.js";
import type { WebhookSecretProvider } from "../../../src/gitlab/webhook-secrets.js";
import type { DeliveryLog, WebhookDependencies } from "../../../src/webhook/delivery.js";
import type { DeadLetterSink, EventPublisher } from "../../../src/webhook/publish.js";

export const SECRET_TOKEN = "glwht-test-secret-token-8f3a1c";
/** 32-byte key 0x00..0x1f, the shape GitLab requires (`whsec_` + base64). */
export const SIGNING_TOKEN = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
export const SIGNING_KEY = decodeSigningToken(SIGNING_TOKEN);

export function staticSecrets(secrets: Partial<WebhookSecrets> = {}): WebhookSecretProvider {
  const value: WebhookSecrets = { secretToken: SECRET_TOKEN, signingKey: SIGNING_KEY, ...secrets };
  return { get: () => Promise.resolve(value) };
}

export class FakeLedger implements DeliveryLedger {
  readonly records = new Map<string, "CLAIMED" | "DONE">();
  failWith: Error | undefined;
  async claim(key: string): Promise<ClaimOutcome> {
    if (this.failWith) throw this.failWith;
    if (this.records.has(key)) return "duplicate";
    this.records.set(key, "CLAIMED");
    return "claimed";
  }
  async markDone(key: string): Promise<void> {
    this.records.set(key, "DONE");
  }
  async release(key: string): Promise<void> {
    this.records.delete(key);
  }
}

/** Answers PutEvents in-process; `failEntry` decides per entry (and attempt) whether it fails. */
export class FakePublisher implements EventPublisher {
  readonly requests: PutEventsRequestEntry[][] = [];
  readonly published: PutEventsRequestEntry[] = [];
  failEntry: (entry: PutEventsRequestEntry, attempt: number) => string | undefined = () => undefined;
  throwWith: Error | undefined;
  private readonly attemptsByDetail = new Map<string, number>();
  async putEvents(input: PutEventsRequest): Promise<PutEventsResponse> {
    const entries = input.Entries ?? [];
    this.requests.push(entries);
    if (this.throwWith) throw this.throwWith;
    let failed = 0;
    const results = entries.map((entry, index) => {
      const key = entry.Detail ?? "";
      const attempt = (this.attemptsByDetail.get(key) ?? 0) + 1;
      this.attemptsByDetail.set(key, attempt);
      const errorCode = this.failEntry(entry, attempt);
      if (errorCode) {
        failed += 1;
        return { ErrorCode: errorCode, ErrorMessage: "simulated" };
      }
      this.published.push(entry);
      return { EventId: `event-${this.published.length}-${index}` };
    });
    return { FailedEntryCount: failed, Entries: results };
  }
}

export class FakeDeadLetters implements DeadLetterSink {
  readonly messages: string[] = [];
  failWith: Error | undefined;
  async send(body: string): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.messages.push(body);
  }
}

export class MemoryLog implements DeliveryLog {
  readonly lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  info(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: "info", message, ...(attributes ? { attributes } : {}) });
  }
  warn(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: "warn", message, ...(attributes ? { attributes } : {}) });
  }
  error(message: string, attributes?: Record<string, unknown>) {
    this.lines.push({ level: "error", message, ...(attributes ? { attributes } : {}) });
  }
}

export class MemoryMetrics {
  readonly counts = new Map<string, number>();
  count(name: string, value = 1) {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }
}

export const NOW_MS = Date.UTC(2026, 10, 27, 10, 0, 30);

export interface FakeWorld {
  deps: WebhookDependencies;
  ledger: FakeLedger;
  publisher: FakePublisher;
  deadLetters: FakeDeadLetters;
  log: MemoryLog;
  metrics: MemoryMetrics;
}

export function fakeWorld(overrides: Partial<WebhookDependencies> = {}): FakeWorld {
  const ledger = new FakeLedger();
  const publisher = new FakePublisher();
  const deadLetters = new FakeDeadLetters();
  const log = new MemoryLog();
  const metrics = new MemoryMetrics();
  const deps: WebhookDependencies = {
    settings: { maxBodyBytes: 1024 * 1024, signatureToleranceSeconds: 300, requireSignature: false },
    secrets: staticSecrets(),
    ledger,
    publisher,
    eventBusName: "sgr-test-bus",
    deadLetters,
    log,
    metrics,
    now: () => NOW_MS,
    publishOptions: { sleep: async () => {}, random: () => 0.5 },
    ...overrides,
  };
  return { deps, ledger, publisher, deadLetters, log, metrics };
}
