// One Lambda execution environment (a child process of function-host.ts): loads the bundled handler
// named by _HANDLER from LAMBDA_TASK_ROOT, like the Node.js runtime does, then serves one invocation at a
// time over IPC. Plain CommonJS on purpose: it must run under bare `node`, with no TypeScript loader
// leaking into the bundled code under test.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const { pathToFileURL } = require('node:url');

const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();

// The functions' clock: the wall clock plus an offset the host sends with each invocation, so a test can
// move time forward (a lease expiring, a run falling due) instead of waiting for it. Installed before the
// handler loads; `new Date(x)` and Date.parse are untouched.
let clockOffsetMs = 0;
const WallDate = Date;
class LocalDate extends WallDate {
  constructor(...args) {
    if (args.length === 0) super(WallDate.now() + clockOffsetMs);
    else super(...args);
  }
  static now() {
    return WallDate.now() + clockOffsetMs;
  }
}
globalThis.Date = LocalDate;
const handlerSpec = process.env._HANDLER || 'index.handler';

function errorPayload(error, fallbackType) {
  if (error instanceof Error) {
    return {
      errorType: error.name || fallbackType,
      errorMessage: error.message,
      trace: String(error.stack || '').split('\n'),
    };
  }
  return { errorType: fallbackType, errorMessage: String(error), trace: [] };
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  const moduleName = handlerSpec.slice(0, dot);
  const exportPath = handlerSpec.slice(dot + 1);
  const base = path.resolve(taskRoot, moduleName);
  const file = ['.js', '.cjs', '.mjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    const error = new Error(`Cannot find module '${moduleName}' in ${taskRoot}`);
    error.name = 'Runtime.ImportModuleError';
    throw error;
  }
  let mod;
  try {
    mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  } catch (cause) {
    const error = new Error(`Error: ${cause?.message ? cause.message : String(cause)}`);
    error.name = 'Runtime.ImportModuleError';
    error.stack = cause?.stack ? cause.stack : error.stack;
    throw error;
  }
  const handler = exportPath.split('.').reduce((obj, key) => (obj == null ? undefined : obj[key]), mod);
  if (typeof handler !== 'function') {
    const error = new Error(`${handlerSpec} is undefined or not exported`);
    error.name = 'Runtime.HandlerNotFound';
    throw error;
  }
  return handler;
}

const handlerPromise = loadHandler();
handlerPromise.catch(() => {}); // reported per invocation, like Lambda's init errors

let current; // id of the invocation in progress

function send(message) {
  if (process.connected) process.send(message);
}

process.on('uncaughtException', (error) => {
  if (current !== undefined) {
    send({
      type: 'result',
      id: current,
      ok: false,
      error: errorPayload(error, 'Runtime.UnhandledException'),
    });
  }
  process.exit(129);
});
process.on('unhandledRejection', (reason) => {
  if (current !== undefined) {
    send({
      type: 'result',
      id: current,
      ok: false,
      error: errorPayload(reason, 'Runtime.UnhandledPromiseRejection'),
    });
  }
  process.exit(128);
});

// The host went away (crash, Ctrl-C): an orphaned environment must not linger.
process.on('disconnect', () => process.exit(0));

process.on('message', async (message) => {
  if (message?.type !== 'invoke') return;
  current = message.id;
  clockOffsetMs = Number(message.clockOffsetMs) || 0;
  let deadline = Date.now() + message.timeoutMs;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: message.invokedFunctionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: message.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let settled = false;
  const reply = (ok, value) => {
    if (settled) return;
    settled = true;
    current = undefined;
    if (ok) send({ type: 'result', id: message.id, ok: true, payload: value === undefined ? null : value });
    else send({ type: 'result', id: message.id, ok: false, error: errorPayload(value, 'Error') });
  };
  try {
    const handler = await handlerPromise;
    // Init is over: the invocation's timeout starts now (the host starts its timer on this message).
    deadline = Date.now() + message.timeoutMs;
    send({ type: 'started', id: message.id });
    const result = handler(message.event, context, (error, value) =>
      error ? reply(false, error) : reply(true, value),
    );
    if (result && typeof result.then === 'function') {
      result.then(
        (value) => reply(true, value),
        (error) => reply(false, error),
      );
    } else if (handler.length < 3) {
      reply(true, result);
    }
  } catch (error) {
    reply(false, error);
  }
});
