/**
 * Client ↔ daemon wire protocol over the Unix socket (frames as in src/driver/channel/frames.ts). The Go client
 * (src/driver/client-go/main.go) implements the same five frame types; keep them in step.
 * client → daemon: Request (JSON {argv, env, cwd}) once, then Signal frames ("SIGTERM"/"SIGINT").
 * daemon → client: Stdout / Stderr bytes, then Exit (JSON {code}) and the daemon closes the connection.
 */
export const WireType = {
  Request: 1,
  Stdout: 2,
  Stderr: 3,
  Exit: 4,
  Signal: 5,
} as const;

export interface StageRequest {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

export const DEFAULT_SOCKET_PATH = "/tmp/sgr-driver/daemon.sock";

export function socketPathFrom(env: Record<string, string | undefined>): string {
  return env.SGR_DRIVER_SOCKET || DEFAULT_SOCKET_PATH;
}
