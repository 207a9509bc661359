// run.mjs runs one Step Functions execution of a real ASL file under
// aws-local-stepfunctions, forwarding every Task state to an AWS Lambda
// Runtime Interface Emulator (aws-lambda-rie) endpoint.
//
// Usage: node run.mjs SPEC.json
//
// SPEC: {
//   "definitionFile": "/abs/statemachine/export.asl.json",
//   "substitutions": {"StartExportFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:start-export", ...},
//   "tasks": {"<Resource ARN after substitution>": "http://127.0.0.1:PORT/2015-03-31/functions/function/invocations"},
//   "waitOverrideMs": 1,      // optional: applied to every Wait state (nested ones too)
//   "retryOverrideMs": 1,     // optional: applied to every Retry of every state
//   "executionName": "name",  // optional: $$.Execution.Name
//   "input": {...}
// }
//
// stdout: one JSON line per execution event
//   {"type":"StateEntered","time":"<ISO>","state":"Name","stateType":"Task","index":0,"parentState":"Map",
//    "error":"..","cause":"..","input":..,"output":..,"retryAttempt":1}
// then exactly one final line, either
//   {"type":"Result","status":"SUCCEEDED|FAILED","output":..,"error":"..","cause":".."}
// or, when the harness itself is broken,
//   {"type":"HarnessError","message":".."}
// Exit code: 0 execution succeeded, 1 execution failed, 2 harness error.

// aws-local-stepfunctions 3.0.0 declares Node >= 22 and calls
// Promise.withResolvers in every Task state; Node 20 lacks it. The polyfill
// must be installed before the library is loaded, hence the dynamic import.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';

const { StateMachine, ExecutionError, ExecutionTimeoutError } = await import('aws-local-stepfunctions');

const EXIT_SUCCEEDED = 0;
const EXIT_FAILED = 1;
const EXIT_HARNESS = 2;

// HarnessError marks a broken harness (unreachable RIE, unmapped Task, bad
// response). It is neither retryable nor catchable so the state machine
// cannot swallow it with States.ALL; the process then exits 2.
class HarnessError extends Error {
  constructor(message) {
    super(message);
    this.name = 'Devstack.HarnessError';
  }
  get isRetryable() {
    return false;
  }
  get isCatchable() {
    return false;
  }
}

let harnessFailure = null;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function finish(code, line) {
  // Exit from the write callback so the last line is flushed even when a
  // Task fetch or a timer would otherwise keep the event loop alive.
  process.stdout.write(JSON.stringify(line) + '\n', () => process.exit(code));
}

function harness(message) {
  const err = new HarnessError(message);
  if (!harnessFailure) harnessFailure = err;
  return err;
}

function stringifyCause(cause) {
  if (cause === undefined || cause === null) return undefined;
  return typeof cause === 'string' ? cause : JSON.stringify(cause);
}

async function loadSpec(path) {
  if (!path) throw harness('usage: node run.mjs SPEC.json');
  const spec = JSON.parse(await readFile(path, 'utf8'));
  if (typeof spec.definitionFile !== 'string' || spec.definitionFile === '') {
    throw harness('spec.definitionFile is required');
  }
  spec.substitutions ??= {};
  spec.tasks ??= {};
  return spec;
}

// substitute mimics SAM DefinitionSubstitutions: plain ${Name} text
// replacement. Values are JSON-string escaped so a value can never break the
// surrounding JSON; ARNs are unaffected.
function substitute(text, substitutions, file) {
  const missing = new Set();
  const out = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name) => {
    if (!Object.hasOwn(substitutions, name)) {
      missing.add(name);
      return whole;
    }
    return JSON.stringify(String(substitutions[name])).slice(1, -1);
  });
  if (missing.size > 0) {
    throw harness(`${file}: no substitution for ${[...missing].map((n) => '${' + n + '}').join(', ')}`);
  }
  const leftover = out.match(/\$\{[^}]*\}/);
  if (leftover) throw harness(`${file}: placeholder ${leftover[0]} remains after substitution`);
  return out;
}

// collectStates walks the definition including Map item processors and
// Parallel branches: the library keys every override by state name and
// hands the same overrides to nested machines.
function collectStates(definition, into = []) {
  for (const [name, state] of Object.entries(definition.States ?? {})) {
    into.push([name, state]);
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (processor) collectStates(processor, into);
    }
    if (state.Type === 'Parallel') {
      for (const branch of state.Branches ?? []) collectStates(branch, into);
    }
  }
  return into;
}

// One RIE instance handles exactly one invocation at a time: a concurrent
// request makes aws-lambda-rie fail (this version even panics and leaves its
// runtime orphaned). Map and Parallel states run iterations concurrently, so
// every URL gets its own FIFO queue. A batch Map that needs real parallelism
// must use several RIE instances (several URLs).
const queues = new Map();
function serialized(url, fn) {
  const prev = queues.get(url) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  queues.set(
    url,
    run.then(
      () => undefined,
      () => undefined,
    ),
  );
  return run;
}

function functionError(errorType, errorMessage) {
  // Real Step Functions reports a direct-ARN Lambda failure as
  // Error = errorType, Cause = the function's error JSON.
  const err = new Error(JSON.stringify({ errorType, errorMessage }));
  err.name = errorType;
  return err;
}

function isErrorEnvelope(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (typeof value.errorType !== 'string' || value.errorType === '') return false;
  return Object.keys(value).every((k) => k === 'errorType' || k === 'errorMessage' || k === 'stackTrace');
}

// invoke POSTs the Task input to the RIE. This RIE version signals a
// function error with HTTP 200 (handler returned an error) or 502 (panic,
// Runtime.ExitError) and a {"errorType","errorMessage"[,"stackTrace"]} body;
// it drops the X-Amz-Function-Error header, which is still honoured if
// present. A timeout is HTTP 200 with the plain text "Task timed out after
// N.00 seconds".
async function invoke(stateName, url, input) {
  let res;
  let text;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    text = await res.text();
  } catch (err) {
    throw harness(`state ${stateName}: invoking ${url}: ${err.cause?.message ?? err.message}`);
  }
  if (res.status === 200 && text.startsWith('Task timed out after')) {
    throw functionError('Sandbox.Timedout', text);
  }
  let body;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    throw harness(`state ${stateName}: ${url} answered HTTP ${res.status} with non-JSON body: ${text.slice(0, 500)}`);
  }
  const headerError = res.headers.get('x-amz-function-error');
  if (headerError || ((res.status === 200 || res.status === 502) && isErrorEnvelope(body))) {
    throw functionError(body?.errorType ?? headerError, body?.errorMessage ?? '');
  }
  if (res.status !== 200) {
    throw harness(`state ${stateName}: ${url} answered HTTP ${res.status}: ${text.slice(0, 500)}`);
  }
  return body;
}

function buildOverrides(definition, spec) {
  const taskResourceLocalHandlers = {};
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  const resourceByState = new Map();
  const unmapped = [];

  for (const [name, state] of collectStates(definition)) {
    if (state.Type === 'Task') {
      const seen = resourceByState.get(name);
      if (seen !== undefined && seen !== state.Resource) {
        throw harness(
          `Task state name ${name} is used with two Resources (${seen}, ${state.Resource}); overrides are keyed by state name`,
        );
      }
      resourceByState.set(name, state.Resource);
      const url = spec.tasks[state.Resource];
      if (typeof url !== 'string' || url === '') {
        unmapped.push(`${name} (${state.Resource})`);
      } else {
        taskResourceLocalHandlers[name] = (input) => serialized(url, () => invoke(name, url, input));
      }
    }
    if (state.Type === 'Wait' && typeof spec.waitOverrideMs === 'number') {
      waitTimeOverrides[name] = spec.waitOverrideMs;
    }
    if (Array.isArray(state.Retry) && typeof spec.retryOverrideMs === 'number') {
      retryIntervalOverrides[name] = spec.retryOverrideMs;
    }
  }
  if (unmapped.length > 0) {
    throw harness(`no entry in spec.tasks for Task state(s): ${unmapped.join(', ')}`);
  }
  return { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides };
}

function toLine(ev) {
  return {
    type: ev.type,
    time: new Date(ev.timestamp).toISOString(),
    state: ev.state?.name,
    stateType: ev.state?.type,
    index: ev.index,
    parentState: ev.parentState?.name,
    error: ev.Error,
    cause: stringifyCause(ev.Cause),
    input: ev.state ? ev.state.input : ev.input,
    output: ev.state ? ev.state.output : ev.output,
    retryAttempt: ev.retry?.attempt,
  };
}

async function main() {
  const spec = await loadSpec(process.argv[2]);
  const text = await readFile(spec.definitionFile, 'utf8');
  const definition = JSON.parse(substitute(text, spec.substitutions, spec.definitionFile));
  const overrides = buildOverrides(definition, spec);

  const machine = new StateMachine(definition);
  const name = spec.executionName || `devstack-${randomUUID()}`;
  const smArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:devstack';
  const execution = machine.run(spec.input ?? {}, {
    overrides,
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:000000000000:execution:devstack:${name}`,
        Name: name,
        RoleArn: 'arn:aws:iam::000000000000:role/devstack',
      },
      StateMachine: { Id: smArn, Name: 'devstack' },
    },
  });

  const pump = (async () => {
    for await (const ev of execution.eventLogs) emit(toLine(ev));
  })();

  let result;
  try {
    const output = await execution.result;
    result = { type: 'Result', status: 'SUCCEEDED', output };
  } catch (err) {
    if (err instanceof ExecutionError) {
      const cause = err.cause;
      result = { type: 'Result', status: 'FAILED', error: cause?.name, cause: stringifyCause(cause?.message) };
    } else if (err instanceof ExecutionTimeoutError) {
      result = { type: 'Result', status: 'FAILED', error: 'States.Timeout', cause: err.message };
    } else {
      throw err;
    }
  }
  await pump;

  if (harnessFailure) {
    finish(EXIT_HARNESS, { type: 'HarnessError', message: harnessFailure.message });
    return;
  }
  finish(result.status === 'SUCCEEDED' ? EXIT_SUCCEEDED : EXIT_FAILED, result);
}

try {
  await main();
} catch (err) {
  const message = harnessFailure?.message ?? (err instanceof Error ? err.message : String(err));
  finish(EXIT_HARNESS, { type: 'HarnessError', message });
}
