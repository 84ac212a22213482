/**
 * A real git repository served over smart HTTP (`git http-backend` run as a CGI program from node:http), so the
 * runner's clone in an e2e job is a genuine `git fetch` over the network, with depth, refspecs and all.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface ServedRepo {
  /** Clone URL, e.g. http://127.0.0.1:PORT/sim/project.git */
  url: string;
  /** Commit of `main`. */
  sha: string;
  ref: string;
  close(): Promise<void>;
}

function git(cwd: string, args: string[]): string {
  const result = spawnSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "sim",
      GIT_AUTHOR_EMAIL: "sim@example.invalid",
      GIT_COMMITTER_NAME: "sim",
      GIT_COMMITTER_EMAIL: "sim@example.invalid",
    },
  });
  if (result.error) throw new Error(`git is needed for the e2e tests: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** Creates a bare repository `<root>/sim/project.git` with one commit on `main` holding `files`. */
function createRepository(root: string, files: Record<string, string>): { bareDir: string; sha: string } {
  const work = join(root, "work");
  mkdirSync(work, { recursive: true });
  git(work, ["init", "-q", "-b", "main"]);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), content);
  }
  git(work, ["add", "-A"]);
  git(work, ["commit", "-q", "-m", "initial commit"]);
  const sha = git(work, ["rev-parse", "HEAD"]);
  const bareDir = join(root, "repos", "sim", "project.git");
  mkdirSync(dirname(bareDir), { recursive: true });
  git(root, ["clone", "-q", "--bare", work, bareDir]);
  git(bareDir, ["config", "http.receivepack", "false"]);
  return { bareDir, sha };
}

/** Serves `files` as repository `sim/project` on a random loopback port. */
export async function serveGitRepo(files: Record<string, string>): Promise<ServedRepo> {
  const root = mkdtempSync(join(tmpdir(), "sgr-git-"));
  const { sha } = createRepository(root, files);
  const projectRoot = join(root, "repos");
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://repo");
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
        GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
        REMOTE_ADDR: "127.0.0.1",
        REMOTE_USER: "gitlab-ci-token",
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.on("close", (code) => {
      if (!headersDone) {
        res.writeHead(500);
        res.end(`git http-backend exited with ${code}`);
      } else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/sim/project.git`,
    sha,
    ref: "main",
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
