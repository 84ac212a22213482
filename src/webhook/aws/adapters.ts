/** The webhook's ports (SDK-typed operations) on top of the lean JSON client. */
import type { PutEventsRequest, PutEventsResponse } from "@aws-sdk/client-eventbridge";
import type { GetParametersResult } from "@aws-sdk/client-ssm";
import type { DeliveryTable } from "../../gitlab/delivery-ledger.js";
import type { SsmParameterReader } from "../../gitlab/webhook-secrets.js";
import type { DeadLetterSink, EventPublisher } from "../publish.js";
import type { AwsJsonClient } from "./json-client.js";

export function ssmParameterReader(client: AwsJsonClient): SsmParameterReader {
  return { getParameters: (input) => client.call<GetParametersResult>("GetParameters", input) };
}

export function dynamoDeliveryTable(client: AwsJsonClient): DeliveryTable {
  return {
    putItem: (input) => client.call("PutItem", input),
    updateItem: (input) => client.call("UpdateItem", input),
    deleteItem: (input) => client.call("DeleteItem", input),
  };
}

/** PutEvents; `Time` goes on the wire as epoch seconds (the JSON protocol's timestamp format). */
export function eventBridgePublisher(client: AwsJsonClient): EventPublisher {
  return {
    putEvents: (input: PutEventsRequest) =>
      client.call<PutEventsResponse>("PutEvents", {
        ...input,
        Entries: input.Entries?.map(({ Time, ...entry }) =>
          Time ? { ...entry, Time: Time.getTime() / 1000 } : entry,
        ),
      }),
  };
}

export function sqsDeadLetterSink(client: AwsJsonClient, queueUrl: string): DeadLetterSink {
  return {
    async send(body) {
      await client.call("SendMessage", { QueueUrl: queueUrl, MessageBody: body });
    },
  };
}
