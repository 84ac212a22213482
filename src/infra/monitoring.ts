/**
 * Alarms on what needs a human (dead letters, rejected webhooks, function errors, managers past their
 * lifetime) and one dashboard of the whole flow: webhooks → managers → jobs → queue-to-start → failures.
 */
import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as sns from "aws-cdk-lib/aws-sns";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { FunctionName } from "../functions/catalog.js";
import {
  MANAGER_METRIC_SERVICE,
  METRIC_NAMESPACE,
  METRICS,
  type MetricName,
} from "../observability/metric-names.js";

export interface MonitoringProps {
  functions: Record<FunctionName, lambda.IFunction>;
  deadLetterQueue: sqs.IQueue;
  /** Rejected webhook deliveries in 5 minutes that raise the alarm. */
  webhookRejectionThreshold: number;
  alarmTopic?: sns.ITopic;
}

/** A product metric as emitted by a function (dimension `service` = its catalog name; see metric-names.ts). */
export function productMetric(
  name: MetricName,
  service: string,
  statistic: string = cloudwatch.Stats.SUM,
  period: Duration = Duration.minutes(5),
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName: name,
    dimensionsMap: { service },
    statistic,
    period,
  });
}

export class Monitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  private readonly alarmTopic: sns.ITopic | undefined;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.alarmTopic = props.alarmTopic;
    const { functions, deadLetterQueue } = props;

    this.addAlarm("DeadLetters", {
      alarmDescription:
        "Events or invocations that failed after retries are waiting in the dead-letter queue.",
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: "Maximum",
      }),
      threshold: 1,
    });
    this.addAlarm("WebhookRejections", {
      alarmDescription:
        "GitLab webhook deliveries are being refused (wrong secret or signature?). GitLab disables hooks that keep failing.",
      metric: productMetric(METRICS.webhookRejected, "webhook"),
      threshold: props.webhookRejectionThreshold,
    });
    this.addAlarm("ManagerOverAge", {
      alarmDescription: "A runner manager is running past its maxLifetimeSeconds (draining did not finish).",
      metric: productMetric(METRICS.managerOverAge, "scheduler", cloudwatch.Stats.MAXIMUM),
      threshold: 1,
      evaluationPeriods: 3,
    });
    for (const [name, fn] of Object.entries(functions)) {
      this.addAlarm(`${name}-errors`, {
        alarmDescription: `The ${name} function is failing.`,
        metric: fn.metricErrors({ period: Duration.minutes(5) }),
        threshold: 1,
      });
    }

    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          graph("Webhooks", [
            productMetric(METRICS.webhookAccepted, "webhook"),
            productMetric(METRICS.webhookRejected, "webhook"),
            productMetric(METRICS.jobEventsPublished, "webhook"),
          ]),
          graph("Managers", [
            productMetric(METRICS.managerStarted, "scale-up"),
            productMetric(METRICS.managerStartFailed, "scale-up"),
            productMetric(METRICS.managerDrained, "scheduler"),
            productMetric(METRICS.managerCrashed, "scheduler"),
            productMetric(METRICS.managerOverAge, "scheduler", cloudwatch.Stats.MAXIMUM),
            productMetric(METRICS.managersActive, "scheduler", cloudwatch.Stats.MAXIMUM),
            productMetric(METRICS.managerSpotFallback, "scale-up"),
            productMetric(METRICS.managerForceStopped, "scheduler"),
          ]),
        ],
        [
          graph("Jobs", [
            productMetric(METRICS.jobSucceeded, "job-status"),
            productMetric(METRICS.jobFailed, "job-status"),
            productMetric(METRICS.jobReconciled, "scheduler"),
          ]),
          graph("Queue to start (seconds)", [
            productMetric(METRICS.jobQueuedSeconds, "job-status", cloudwatch.Stats.p(50)),
            productMetric(METRICS.jobQueuedSeconds, "job-status", cloudwatch.Stats.p(90)),
            productMetric(METRICS.jobQueuedSeconds, "job-status", cloudwatch.Stats.MAXIMUM),
            productMetric(METRICS.jobPendingToRunningSeconds, "job-status", cloudwatch.Stats.p(50)),
            productMetric(METRICS.jobPendingToRunningSeconds, "job-status", cloudwatch.Stats.p(90)),
          ]),
        ],
        [
          graph("Queue to start by phase, p90 (seconds)", [
            productMetric(METRICS.jobQueuedSeconds, "job-status", cloudwatch.Stats.p(90)),
            productMetric(METRICS.jobWebhookToManagerStartSeconds, "scale-up", cloudwatch.Stats.p(90)),
            productMetric(METRICS.jobPendingToRunningSeconds, "job-status", cloudwatch.Stats.p(90)),
            // Emitted inside the manager task (manager entrypoint and driver daemon), service `manager`.
            productMetric(
              METRICS.managerStartToRunningSeconds,
              MANAGER_METRIC_SERVICE,
              cloudwatch.Stats.p(90),
            ),
            productMetric(METRICS.jobTaskRunningSeconds, MANAGER_METRIC_SERVICE, cloudwatch.Stats.p(90)),
            productMetric(METRICS.jobFirstScriptByteSeconds, MANAGER_METRIC_SERVICE, cloudwatch.Stats.p(90)),
          ]),
          graph("Job duration (seconds) and estimated cost (USD per 5 min)", [
            productMetric(METRICS.jobDurationSeconds, "job-status", cloudwatch.Stats.p(50)),
            productMetric(METRICS.jobDurationSeconds, "job-status", cloudwatch.Stats.p(90)),
            productMetric(METRICS.jobEstimatedCostUsd, "job-status", cloudwatch.Stats.SUM),
            // The driver's cost at the size each job's task really got (service `manager`).
            productMetric(METRICS.jobTaskCostUsd, MANAGER_METRIC_SERVICE, cloudwatch.Stats.SUM),
          ]),
        ],
        [
          graph(
            "Failures",
            [
              deadLetterQueue.metricApproximateNumberOfMessagesVisible({
                period: Duration.minutes(5),
                statistic: "Maximum",
              }),
              ...Object.values(functions).map((fn) => fn.metricErrors({ period: Duration.minutes(5) })),
              ...Object.values(functions).map((fn) => fn.metricThrottles({ period: Duration.minutes(5) })),
            ],
            24,
          ),
        ],
      ],
    });
  }

  private addAlarm(
    id: string,
    options: {
      alarmDescription: string;
      metric: cloudwatch.IMetric;
      threshold: number;
      evaluationPeriods?: number;
    },
  ): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: options.alarmDescription,
      metric: options.metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means nothing happened (no traffic, zero idle): that is healthy, not an alarm.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (this.alarmTopic) alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
  }
}

function graph(title: string, metrics: cloudwatch.IMetric[], width = 12): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left: metrics, width, height: 6 });
}
