/** Reads a secret from the terminal without echoing it (the GitLab token when GITLAB_TOKEN is not set). */
import { createInterface } from "node:readline";

export async function promptSecret(
  question: string,
  input: NodeJS.ReadStream,
  output: NodeJS.WriteStream,
): Promise<string> {
  const rl = createInterface({ input, output, terminal: true });
  // readline echoes typed characters through _writeToOutput; print the question only, then nothing.
  const muted = rl as unknown as { _writeToOutput: (text: string) => void };
  let asked = false;
  muted._writeToOutput = (text: string) => {
    if (!asked) {
      output.write(text);
      asked = true;
    }
  };
  try {
    return await new Promise<string>((resolve) => rl.question(question, (answer) => resolve(answer.trim())));
  } finally {
    output.write("\n");
    rl.close();
  }
}
