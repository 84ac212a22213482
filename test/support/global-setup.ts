/**
 * One moto server for the whole integration run; tests isolate themselves by unique resource names.
 * Workers are spawned after global setup, so they inherit the endpoint through process.env.
 */
import { motoEnv, startMoto } from "./moto.js";

export default async function setup(): Promise<() => Promise<void>> {
  const moto = await startMoto();
  Object.assign(process.env, motoEnv(moto.endpoint));
  return () => moto.stop();
}
