// Sweep λ (EventBridge Scheduler, every few minutes): reconcile EC2 + the static inventory against
// the state table (run-sweep.ts). One structured summary per sweep, logged and emitted as CloudWatch
// metrics (Powertools EMF), so "what did the last sweep do" is one log line and one dashboard.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { loadBundle } from '../core/bundle-file.js';
import { clients } from '../shared/clients.js';
import { getNumberFromEnv, getStringFromEnv } from '../shared/config.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import { runSweep, type SweepDeps, type SweepSummary } from './run-sweep.js';

const stateMachineArn = getStringFromEnv('STATE_MACHINE_ARN');
const notifierFunctionName = getStringFromEnv('NOTIFIER_FUNCTION_NAME');
const leaseSeconds = getNumberFromEnv('LEASE_SECONDS', 7200);
const concurrency = getNumberFromEnv('SWEEP_CONCURRENCY', 10);
const bundle = loadBundle();

const metrics = new Metrics({
  namespace: getStringFromEnv('POWERTOOLS_METRICS_NAMESPACE', 'AnsibleAutoProvisioner'),
  serviceName: 'sweep',
});

const store = stateStoreFromEnv();

const deps: SweepDeps = {
  store,
  ec2: clients.ec2(),
  sfn: clients.sfn(),
  lambda: clients.lambda(),
  bundle,
  stateMachineArn,
  notifierFunctionName,
  leaseSeconds,
  concurrency,
  actor: 'sweep',
  now: () => new Date(),
  logger,
};

/** Counters of the summary, as metric name → value. */
export function sweepMetrics(summary: SweepSummary): Record<string, number> {
  return {
    SweepFoundEc2: summary.found.ec2,
    SweepFoundInventory: summary.found.inventory,
    SweepKnown: summary.found.known,
    SweepNew: summary.new,
    SweepDue: summary.due,
    SweepReclaimed: summary.reclaimed,
    SweepReprovisioned: summary.reprovisioned,
    SweepReapplied: summary.reapplied,
    SweepLeaseExtended: summary.leaseExtended,
    SweepRevived: summary.revived,
    SweepOrphaned: summary.orphaned,
    SweepHeld: summary.held,
    SweepUpdated: summary.updated,
    SweepStarted: summary.started,
    SweepClaimsLost: summary.claimsLost,
    SweepPaused: summary.paused ? 1 : 0,
    SweepAdmissionHeld: Object.values(summary.admission).reduce((sum, count) => sum + (count ?? 0), 0),
    SweepErrors: summary.errors,
  };
}

export const handler = async (): Promise<SweepSummary> => {
  const summary = await runSweep(deps);
  logger.info('Sweep summary', { summary });
  for (const [name, value] of Object.entries(sweepMetrics(summary)))
    metrics.addMetric(name, MetricUnit.Count, value);
  metrics.addMetric('SweepDuration', MetricUnit.Milliseconds, summary.durationMs);
  metrics.publishStoredMetrics();
  return summary;
};
