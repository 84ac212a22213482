/**
 * Where the janitor's task-definition sweep resumes: the last job family a run finished, one item in the state
 * table. Losing it only makes the next run start from the first family again.
 */
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { JANITOR_CURSOR_KEY, type StateStore } from "./table.js";

/** The sweep's resume point: the last family a run finished. */
export interface JanitorCursor {
  load(): Promise<string | undefined>;
  /** `undefined`: the last run reached the end; the next starts from the first family. */
  save(lastFamily: string | undefined): Promise<void>;
}

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
