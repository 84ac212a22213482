/** Where the project's scripts cache built tools and images: outside the repository, shared by every checkout. */
import { homedir } from "node:os";
import { join } from "node:path";

export const toolsDir = process.env.SGR_TOOLS_DIR ?? join(homedir(), ".cache", "serverless-gitlab-runner");
