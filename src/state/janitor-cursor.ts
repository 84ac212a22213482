/**
 * Where the janitor's task-definition sweep resumes: the last job family a run finished, one item in the state
 * table. Losing it only makes the next run start from the first family again.
 */
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { JanitorCursor } from "../control-plane/janitor.js";
import { JANITOR_CURSOR_KEY, type StateStore } from "./table.js";

export function janitorCursor(store: StateStore): JanitorCursor {
  return {
    async load() {
      const out = await store.db.send(
        new GetCommand({ TableName: store.tableName, Key: JANITOR_CURSOR_KEY, ConsistentRead: true }),
      );
      const family = out.Item?.lastFamily;
      return typeof family === "string" && family !== "" ? family : undefined;
    },
    async save(lastFamily) {
      if (lastFamily === undefined) {
        await store.db.send(new DeleteCommand({ TableName: store.tableName, Key: JANITOR_CURSOR_KEY }));
        return;
      }
      await store.db.send(
        new PutCommand({ TableName: store.tableName, Item: { ...JANITOR_CURSOR_KEY, lastFamily } }),
      );
    },
  };
}
