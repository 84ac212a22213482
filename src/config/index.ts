export * from "./load.js";
export * from "./ports.js";
export * from "./resources.js";
export * from "./schema.js";
