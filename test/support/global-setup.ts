/**
 * Global setup of the integration tier, run once before any worker starts (workers inherit process.env):
 * one moto server for the whole run (tests isolate themselves by unique resource names), and one build of
 * the driver, daemon and agent into dist/ so that no test file rebuilds it under another one's feet.
 */
import { buildDriver } from "../driver/support/build.js";
import { motoEnv, startMoto } from "./moto.js";

export default async function setup(): Promise<() => Promise<void>> {
  buildDriver();
  process.env.SGR_DRIVER_PREBUILT = "1";
  const moto = await startMoto();
  Object.assign(process.env, motoEnv(moto.endpoint));
  return () => moto.stop();
}
