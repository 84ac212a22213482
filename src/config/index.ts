export * from "./load.js";
export * from "./resources.js";
export * from "./schema.js";
