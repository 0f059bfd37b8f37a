// The composition of the local stack (docs/architecture.md "How local mode proves fidelity"): synthesize
// (or reuse) the bundled assembly, read it, then start each part in order — the table, the service
// stand-ins, the endpoint and the functions, the triggers, the workflow, the live change feed, the fleet —
// registering each part's shutdown as it starts, and hand back the handle (handle.ts).
import { type Assembly, ensureAssembly } from '../assembly.js';
import {
  expandInstances,
  type Fleet,
  type FleetFile,
  loadFleetFile,
  playFleetFile,
  type ScenarioRun,
} from '../fleet.js';
import { assertAnsible } from '../ssm-agent.js';
import { type LocalStackSpec, readLocalStack } from '../template.js';
import { ChangeFeed } from './change-feed.js';
import { createEmulators } from './emulators.js';
import { type StackClock, startFunctions } from './functions.js';
import { createHandle, type LocalStack } from './handle.js';
import { type Cleanups, type LocalStackOptions, stackDirs } from './options.js';
import { startStorage } from './storage.js';
import { wireTriggers } from './triggers.js';
import { registerWorkflow } from './workflow.js';

/** Starts the whole stack. Always `stop()` the handle (also on failure paths) to end child processes. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const progress = options.onProgress ?? (() => {});
  const timeScale = options.timeScale ?? 0.01;
  const seed = options.seed ?? 42;
  if (!options.simulatedAnsible) assertAnsible();
  const assembly: Assembly = await ensureAssembly({
    rules: options.rules,
    check: options.check,
    ...(options.inventories ? { inventories: options.inventories } : {}),
    onProgress: progress,
  });
  const spec: LocalStackSpec = readLocalStack(assembly.dir);
  const fleetFile: FleetFile =
    typeof options.fleet === 'string' ? loadFleetFile(options.fleet) : (options.fleet ?? { instances: [] });
  const dirs = stackDirs(options.stateDir);

  const cleanups: Cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort: keep shutting the rest down
      }
    }
  };

  try {
    progress('Starting DynamoDB Local…');
    const changes = new ChangeFeed();
    const storage = await startStorage(spec, dirs.stateDir, { ...options, seed }, changes, cleanups);
    const emulators = createEmulators(spec, fleetFile, { ...options, seed }, dirs, progress, cleanups);
    const clock: StackClock = { offsetMs: 0 };
    const fns = await startFunctions(
      spec,
      emulators,
      storage.proxy,
      { options, seed, timeScale, logDir: dirs.logDir, assemblyDir: assembly.dir, clock, progress },
      cleanups,
    );
    registerWorkflow(spec, emulators.sfn, fns, { ...options, timeScale });
    const { sweepNow } = wireTriggers(
      spec,
      emulators.bus,
      fns,
      { timeScale, sweepSchedule: options.sweepSchedule !== false },
      cleanups,
    );

    // ---- live changes -----------------------------------------------------------------------------
    const { fleet } = emulators;
    changes.attach(storage.store, (id) => fleet.get(id)?.tags.Name);
    if (options.onChange) changes.subscribe(options.onChange);

    // ---- the fleet ----------------------------------------------------------------------------------
    const scenario = startFleet(fleet, fleetFile, options, progress);
    let scenarioDone = scenario === undefined;
    if (scenario) {
      cleanups.push(() => scenario.cancel());
      void scenario.done.then(() => {
        scenarioDone = true;
      });
    }

    return createHandle({
      spec,
      assembly,
      dirs,
      timeScale,
      storage,
      emulators,
      fns,
      changes,
      clock,
      ...(scenario ? { scenario } : {}),
      scenarioDone: () => scenarioDone,
      sweepNow,
      cleanup,
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Launches the fleet file's instances; plays its scenario unless `playScenario: false`. */
function startFleet(
  fleet: Fleet,
  fleetFile: FleetFile,
  options: LocalStackOptions,
  progress: (message: string) => void,
): ScenarioRun | undefined {
  return options.playScenario === false
    ? (() => {
        for (const { spec: instance, launchNow } of expandInstances(fleetFile)) {
          if (launchNow) fleet.launch(instance);
        }
        return undefined;
      })()
    : playFleetFile(fleet, fleetFile, {
        timeScale: options.scenarioTimeScale ?? 1,
        onFailure: (failure) => progress(`Scenario step failed: ${failure}`),
      });
}
