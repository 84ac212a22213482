#!/usr/bin/env node
// `sgr` as installed by npm (package.json "bin"): registers tsx so the TypeScript sources run as they are,
// with no build step to forget; the CLI runs from a checkout where tsx is installed.
import { register } from "tsx/esm/api";

register();
await import("./bin.ts");
