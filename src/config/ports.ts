/**
 * Network ports shared by the infrastructure (security-group rules) and the driver/agent (listen and connect).
 * One constant, so the job task's security group opens exactly the port the agent listens on.
 */

/** TCP port the agent in a job task listens on for the driver's channel; only the manager's security group may reach it. */
export const AGENT_CHANNEL_PORT = 7443;
