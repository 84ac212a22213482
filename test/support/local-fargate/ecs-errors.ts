/**
 * ECS API errors as the JSON 1.1 protocol carries them: HTTP 400 with `__type` and `message`, which SDK v3 turns
 * into an exception whose `name` is the type (ClientException, InvalidParameterException, …).
 */
export type EcsErrorType =
  | "ClientException"
  | "InvalidParameterException"
  | "ClusterNotFoundException"
  | "ThrottlingException"
  | "ServerException";

export class EcsError extends Error {
  constructor(
    readonly type: EcsErrorType,
    message: string,
    readonly status = type === "ServerException" ? 500 : 400,
  ) {
    super(message);
    this.name = type;
  }

  body(): string {
    return JSON.stringify({ __type: this.type, message: this.message });
  }
}

export const clientError = (message: string) => new EcsError("ClientException", message);
export const invalidParameter = (message: string) => new EcsError("InvalidParameterException", message);
