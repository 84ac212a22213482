/**
 * Least-privilege IAM statements, one function per principal so each grant can be read (and tested) as a
 * whole. ECS actions are scoped to our cluster and our task-definition families; PassRole to our roles.
 */
import { Stack, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import type * as events from "aws-cdk-lib/aws-events";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { flattenCfnReference } from "cdk-nag/lib/utils/flatten-cfn-reference.js";
import type { Construct, IConstruct } from "constructs";
import { jobFamilyPrefix } from "../driver/backends/fargate/layout.js";

/** Item-level DynamoDB actions the control plane, driver and manager use (no Scan, no table administration). */
export const STATE_TABLE_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:Query",
  "dynamodb:ConditionCheckItem",
] as const;

/** Tag keys our code puts on tasks and task definitions (`sgr:runner`, `sgr:job-id`, `sgr:managed`, ...). */
const OUR_TAG_KEYS = "sgr:*";

/** Why a statement's wildcard resource is as narrow as IAM allows; attached as a cdk-nag acknowledgment. */
const wildcardReasons = new WeakMap<iam.PolicyStatement, string>();

/** A statement whose resources contain a wildcard, with the reason it cannot be narrower. */
function scoped(props: iam.PolicyStatementProps, wildcardReason: string): iam.PolicyStatement {
  const statement = new iam.PolicyStatement(props);
  wildcardReasons.set(statement, wildcardReason);
  return statement;
}

/**
 * Adds statements to a role's policy and acknowledges each wildcard resource (cdk-nag AwsSolutions-IAM5) with
 * the reason given where the statement was written. A wildcard without a reason is a programming error.
 */
export function attachStatements(
  role: iam.IRole & IConstruct,
  statements: readonly iam.PolicyStatement[],
): void {
  const stack = Stack.of(role);
  for (const statement of statements) {
    role.addToPrincipalPolicy(statement);
    const wildcards = statement.resources.filter((resource) =>
      flattenCfnReference(stack.resolve(resource)).includes("*"),
    );
    if (wildcards.length === 0) continue;
    const reason = wildcardReasons.get(statement);
    if (!reason)
      throw new Error(`statement ${statement.sid ?? "(no sid)"} has a wildcard resource and no reason`);
    for (const resource of wildcards) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(stack.resolve(resource))}]`,
        reason: `${statement.sid ?? "statement"}: ${reason}`,
      });
    }
  }
}

function taskDefinitionResource(scope: Construct, resourceName: string): string {
  return Stack.of(scope).formatArn({ service: "ecs", resource: "task-definition", resourceName });
}

function taskDefinitionArn(scope: Construct, familyPattern: string): string {
  return taskDefinitionResource(scope, `${familyPattern}:*`);
}

function tasksInCluster(scope: Construct, cluster: ecs.ICluster): string {
  return Stack.of(scope).formatArn({
    service: "ecs",
    resource: "task",
    resourceName: `${cluster.clusterName}/*`,
  });
}

const inCluster = (cluster: ecs.ICluster) => ({ ArnEquals: { "ecs:cluster": cluster.clusterArn } });

function parameterArns(scope: Construct, parameterNames: readonly string[]): string[] {
  const stack = Stack.of(scope);
  return parameterNames.map((name) =>
    stack.formatArn({ service: "ssm", resource: "parameter", resourceName: name.replace(/^\//, "") }),
  );
}

/** Read our SecureStrings by name; decrypt only through SSM and only for those parameters. */
export function readParameters(scope: Construct, parameterNames: readonly string[]): iam.PolicyStatement[] {
  if (parameterNames.length === 0) return [];
  return [
    new iam.PolicyStatement({
      sid: "ReadOurParameters",
      actions: ["ssm:GetParameter", "ssm:GetParameters"],
      resources: parameterArns(scope, parameterNames),
    }),
    ...decryptParametersViaSsm(scope, parameterNames),
  ];
}

/**
 * Decrypt our SecureStrings whatever key encrypts them (aws/ssm or the operator's own key), only through SSM and
 * only for those parameters. Needed by any principal that reads them when the key is customer-managed: ECS
 * reading a task's `secrets` decrypts with the task's execution role.
 */
export function decryptParametersViaSsm(
  scope: Construct,
  parameterNames: readonly string[],
): iam.PolicyStatement[] {
  if (parameterNames.length === 0) return [];
  const stack = Stack.of(scope);
  return [
    scoped(
      {
        sid: "DecryptOurParametersViaSsm",
        actions: ["kms:Decrypt"],
        resources: [stack.formatArn({ service: "kms", resource: "key", resourceName: "*" })],
        conditions: {
          StringEquals: { "kms:ViaService": `ssm.${stack.region}.amazonaws.com` },
          ArnLike: { "kms:EncryptionContext:PARAMETER_ARN": parameterArns(scope, parameterNames) },
        },
      },
      "the key of a SecureString is the operator's choice (aws/ssm or their own); decryption is limited to calls " +
        "through SSM whose encryption context is one of our parameter ARNs",
    ),
  ];
}

export function useStateTable(table: dynamodb.ITable): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: "UseStateTable",
    actions: [...STATE_TABLE_ACTIONS],
    resources: [table.tableArn],
  });
}

export function putJobEvents(bus: events.IEventBus): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: "PutJobEvents",
    actions: ["events:PutEvents"],
    resources: [bus.eventBusArn],
  });
}

export function sendDeadLetters(queue: sqs.IQueue): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: "SendDeadLetters",
    actions: ["sqs:SendMessage"],
    resources: [queue.queueArn],
  });
}

const OUR_REVISIONS = "every revision (`:*`) of our own task-definition families only";
const OUR_TASKS = "tasks of our own cluster only (task ids are not known in advance)";

/**
 * Start manager tasks (scale-up, and the reconciler in the scheduler), tagged with our keys, passing only the
 * manager roles. Only the exact revisions this deployment defined: a revision registered later in a manager's
 * family (by anyone) cannot be started by these functions.
 */
export function startManagers(
  scope: Construct,
  cluster: ecs.ICluster,
  managerTaskDefinitionArns: readonly string[],
  managerRoles: readonly iam.IRole[],
): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: "RunManagerTasks",
      actions: ["ecs:RunTask"],
      resources: [...managerTaskDefinitionArns],
      conditions: inCluster(cluster),
    }),
    scoped(
      {
        sid: "TagManagerTasksOnRun",
        actions: ["ecs:TagResource"],
        resources: [tasksInCluster(scope, cluster)],
        conditions: {
          StringEquals: { "ecs:CreateAction": "RunTask" },
          "ForAllValues:StringLike": { "aws:TagKeys": [OUR_TAG_KEYS] },
        },
      },
      `${OUR_TASKS}, only while RunTask creates them, only our tag keys`,
    ),
    passRoles(managerRoles),
  ];
}

/** See and stop tasks in our cluster (managers and job tasks). */
export function watchAndStopTasks(scope: Construct, cluster: ecs.ICluster): iam.PolicyStatement[] {
  return [
    scoped(
      {
        sid: "DescribeAndStopOurTasks",
        actions: ["ecs:DescribeTasks", "ecs:StopTask"],
        resources: [tasksInCluster(scope, cluster)],
        conditions: inCluster(cluster),
      },
      OUR_TASKS,
    ),
    scoped(
      {
        sid: "ListTasksInOurCluster",
        actions: ["ecs:ListTasks"],
        resources: ["*"],
        conditions: inCluster(cluster),
      },
      "ListTasks is authorized on container instances, which Fargate has none of; the ecs:cluster condition limits it to our cluster",
    ),
  ];
}

/** Janitor (scheduler): retire job task definitions unused for the retention period. */
export function retireJobTaskDefinitions(scope: Construct, familyScope: string): iam.PolicyStatement[] {
  return [
    scoped(
      {
        sid: "ListTaskDefinitions",
        actions: ["ecs:ListTaskDefinitions", "ecs:ListTaskDefinitionFamilies"],
        resources: ["*"],
      },
      "these ECS list actions support no resource-level permissions (they return ARNs and names only)",
    ),
    scoped(
      {
        sid: "DeregisterJobTaskDefinitions",
        actions: ["ecs:DeregisterTaskDefinition"],
        resources: ["*"],
      },
      "DeregisterTaskDefinition supports neither resource-level permissions nor condition keys; the janitor only " +
        "deregisters revisions of our job families that carry sgr:managed=true (docs/security.md)",
    ),
    scoped(
      {
        sid: "DeleteJobTaskDefinitions",
        actions: ["ecs:DeleteTaskDefinitions", "ecs:ListTagsForResource"],
        resources: [taskDefinitionArn(scope, `${jobFamilyPrefix(familyScope)}*`)],
      },
      `${OUR_REVISIONS} (job families are named by a hash of their shape, so only the prefix is known)`,
    ),
  ];
}

/** What the manager's task role needs to run its jobs as tasks (the driver), coordinate drain, and use the cache. */
export function managerTaskPermissions(
  scope: Construct,
  cluster: ecs.ICluster,
  jobRoles: readonly iam.IRole[],
  table: dynamodb.ITable,
  cacheBucket: s3.IBucket,
  familyScope: string,
): iam.PolicyStatement[] {
  const jobFamilies = taskDefinitionArn(scope, `${jobFamilyPrefix(familyScope)}*`);
  const jobFamiliesReason = `${OUR_REVISIONS} (job families are named by a hash of their shape, so only the prefix is known)`;
  return [
    scoped(
      {
        sid: "RegisterJobTaskDefinitions",
        actions: ["ecs:RegisterTaskDefinition"],
        // No `:*` suffix: the family prefix wildcard covers the revision, whatever form ECS authorizes against.
        resources: [taskDefinitionResource(scope, `${jobFamilyPrefix(familyScope)}*`)],
        conditions: {
          StringEquals: { "aws:RequestTag/sgr:managed": "true" },
          "ForAllValues:StringLike": { "aws:TagKeys": [OUR_TAG_KEYS] },
        },
      },
      "only our job families (named by a hash of their shape, so only the prefix is known); the request must " +
        "carry sgr:managed=true and only sgr: tag keys",
    ),
    scoped(
      {
        sid: "FindJobTaskDefinitions",
        actions: ["ecs:ListTaskDefinitions"],
        resources: ["*"],
      },
      "ListTaskDefinitions supports no resource-level permission (it returns ARNs only)",
    ),
    scoped(
      {
        sid: "RunJobTasks",
        actions: ["ecs:RunTask"],
        resources: [jobFamilies],
        conditions: inCluster(cluster),
      },
      `${jobFamiliesReason}, and only in our cluster`,
    ),
    scoped(
      {
        sid: "TagOnCreate",
        actions: ["ecs:TagResource"],
        resources: [jobFamilies, tasksInCluster(scope, cluster)],
        conditions: {
          StringEquals: { "ecs:CreateAction": ["RunTask", "RegisterTaskDefinition"] },
          "ForAllValues:StringLike": { "aws:TagKeys": [OUR_TAG_KEYS] },
        },
      },
      "our job families and our cluster's tasks, only while they are created, only our tag keys",
    ),
    scoped(
      {
        sid: "MarkJobTaskDefinitionsUsed",
        // The driver refreshes `sgr:last-used` on its task definitions (at most daily) for the janitor.
        actions: ["ecs:TagResource"],
        resources: [jobFamilies],
        conditions: { "ForAllValues:StringEquals": { "aws:TagKeys": ["sgr:last-used"] } },
      },
      `${jobFamiliesReason}; only the sgr:last-used tag`,
    ),
    ...watchAndStopTasks(scope, cluster),
    passRoles(jobRoles),
    useStateTable(table),
    scoped(
      {
        sid: "UseRunnerCache",
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [cacheBucket.arnForObjects("*")],
      },
      "objects of our own cache bucket; cache keys are chosen by the jobs",
    ),
    new iam.PolicyStatement({
      sid: "ListRunnerCache",
      // gitlab-runner's S3 client (minio-go) asks for the bucket's region when the configuration names none.
      actions: ["s3:ListBucket", "s3:GetBucketLocation"],
      resources: [cacheBucket.bucketArn],
    }),
  ];
}

/** Where speculative tasks' secret files live in their bucket (src/fargate/speculative-task.ts secretFileKey). */
const SECRET_FILES = "speculative/*";
const SECRET_FILES_REASON = "the secret files of our own bucket; their keys hold job ids and random names";

/**
 * Scale-up's speculative start: run job tasks of our families in our cluster (tagging them on creation is part of
 * startManagers), pass the job roles, and write secret files.
 */
export function startSpeculativeJobTasks(
  scope: Construct,
  cluster: ecs.ICluster,
  familyScope: string,
  jobRoles: readonly iam.IRole[],
  secretsBucket: s3.IBucket,
): iam.PolicyStatement[] {
  return [
    scoped(
      {
        sid: "RunSpeculativeJobTasks",
        actions: ["ecs:RunTask"],
        resources: [taskDefinitionArn(scope, `${jobFamilyPrefix(familyScope)}*`)],
        conditions: inCluster(cluster),
      },
      `${OUR_REVISIONS} (job families are named by a hash of their shape, so only the prefix is known), in our cluster`,
    ),
    passRoles(jobRoles, "PassJobTaskRoles"),
    scoped(
      {
        sid: "WriteSecretFiles",
        actions: ["s3:PutObject"],
        resources: [secretsBucket.arnForObjects(SECRET_FILES)],
      },
      SECRET_FILES_REASON,
    ),
  ];
}

/** The manager's driver adopts speculative tasks: reads and deletes their secret files, tags them as its own. */
export function adoptSpeculativeJobTasks(
  scope: Construct,
  cluster: ecs.ICluster,
  secretsBucket: s3.IBucket,
): iam.PolicyStatement[] {
  return [
    scoped(
      {
        sid: "ReadAndDeleteSecretFiles",
        actions: ["s3:GetObject", "s3:DeleteObject"],
        resources: [secretsBucket.arnForObjects(SECRET_FILES)],
      },
      SECRET_FILES_REASON,
    ),
    scoped(
      {
        sid: "TagAdoptedJobTasks",
        actions: ["ecs:TagResource"],
        resources: [tasksInCluster(scope, cluster)],
        conditions: { "ForAllValues:StringEquals": { "aws:TagKeys": ["sgr:manager-task"] } },
      },
      `${OUR_TASKS}; only the sgr:manager-task tag`,
    ),
  ];
}

/** ECS reads a speculative task's secret file (`environmentFiles`) with the job execution role. */
export function readSecretFiles(secretsBucket: s3.IBucket): iam.PolicyStatement[] {
  return [
    scoped(
      {
        sid: "ReadSecretFiles",
        actions: ["s3:GetObject"],
        resources: [secretsBucket.arnForObjects(SECRET_FILES)],
      },
      SECRET_FILES_REASON,
    ),
    new iam.PolicyStatement({
      sid: "LocateSecretFiles",
      actions: ["s3:GetBucketLocation"],
      resources: [secretsBucket.bucketArn],
    }),
  ];
}

function passRoles(roles: readonly iam.IRole[], sid = "PassOnlyOurTaskRoles"): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ["iam:PassRole"],
    resources: roles.map((role) => role.roleArn),
    conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
  });
}
