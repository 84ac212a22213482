/** Creates a state table with the deployed key schema (pk/sk strings, on demand) in moto. */
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";

export async function createStateTable(
  name: string,
  client: DynamoDBClient = new DynamoDBClient({}),
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
    }),
  );
}
