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
//   "concurrentTasks": ["<tasks URL>"],  // optional: URLs called without queueing (a pool serves them)
//   "waitOverrideMs": 1,      // optional: applied to every Wait state (nested ones too)
//   "retryOverrideMs": 1,     // optional: applied to every Retry of every state
//   "executionName": "name",  // optional: $$.Execution.Name
//   "stateMachines": {"<state machine ARN>": "/abs/statemachine/export.asl.json"},
//                             // optional: children for arn:aws:states:::states:startExecution.sync[:2]
//                             // Tasks, run in-process with the same substitutions and tasks
//   "s3Endpoint": "http://127.0.0.1:PORT", // optional: S3 (moto) for Distributed Map ItemReaders
//   "dynamodbEndpoint": "http://127.0.0.1:PORT", // optional: DynamoDB (moto) for the dynamodb:* Tasks
//   "sqsEndpoint": "http://127.0.0.1:PORT",      // optional: SQS (moto) for sqs:sendMessage.waitForTaskToken
//   "tokenBrokerEndpoint": "http://127.0.0.1:PORT", // optional: where those Tasks' tokens are answered
//   "stateMachineArn": "arn:aws:states:…:stateMachine:name", // optional: $$.StateMachine.Id, and
//                             // $$.Execution.Id is its execution ARN (default: a "devstack" machine)
//   "timeoutSeconds": 5,      // optional: the top-level TimeoutSeconds, as a caller's limit would set it
//   "input": {...}
// }
//
// DynamoDB service integration (arn:aws:states:::dynamodb:getItem,
// putItem, updateItem, deleteItem): the Task's Parameters, paths resolved,
// are the DynamoDB API request as they are in Step Functions; they are
// POSTed to dynamodbEndpoint (JSON 1.0 protocol) and the answer is the
// Task's result. A DynamoDB error fails the Task as Step Functions names
// it, "DynamoDB.<ErrorCode>" (DynamoDB.ConditionalCheckFailedException),
// with the message and code in the Cause.
//
// $$.State.EnteredTime, which the library does not set, reads the time
// when the path is evaluated (within milliseconds of the state's entry).
//
// SQS callback tasks (arn:aws:states:::sqs:sendMessage.waitForTaskToken),
// which the library lacks: $$.Task.Token reads a fresh token each time the
// path is evaluated (once per state entry, in the Parameters); the Task
// registers the token with its timeout at tokenBrokerEndpoint (the Go
// side's devstack.TokenBroker, where functions answer it through
// SendTaskSuccess), sends the message to sqsEndpoint (moto; a MessageBody
// object is sent as its JSON text, as Step Functions does) and waits for
// the token: answered, the Task's result is the output sent; timed out,
// the Task fails with States.Timeout. The timeout is the state's
// TimeoutSeconds or TimeoutSecondsPath (evaluated by moving it into the
// Parameters, as "__devstack_timeoutSeconds") or waitOverrideMs when set;
// the broker's clock decides it, so a token is never both answered and
// timed out. Tokens of a stopped execution stay open until their timeout.
//
// A line "stop" on stdin stops the execution, as StopExecution does: the
// execution ends ABORTED (exit code 3); Tasks in flight are not awaited.
//
// Distributed Map, as far as the library lacks it (it runs every Map
// inline): an ItemReader (s3:getObject, InputType JSON) becomes a Task state
// "<Map> (ItemReader)" inserted before the Map that reads the list from
// s3Endpoint into $.__devstack_items, which the Map then iterates; a
// ResultWriter is dropped, so the Map's result is the inline array of
// item results instead of {MapRunArn, ResultWriterDetails}.
// ToleratedFailure* are not honoured: any failed item fails the Map.
//
// A startExecution.sync:2 Task runs the child definition to completion and
// returns a DescribeExecution-like object (Output parsed; ".sync" keeps it
// a string); a child that fails, times out or aborts fails the Task with
// States.TaskFailed whose Cause is that object as JSON, as Step Functions
// does. Child events are printed too, with "execution": the child's name.
//
// stdout: one JSON line per execution event
//   {"type":"StateEntered","time":"<ISO>","state":"Name","stateType":"Task","index":0,"parentState":"Map",
//    "error":"..","cause":"..","input":..,"output":..,"retryAttempt":1}
// then exactly one final line, either
//   {"type":"Result","status":"SUCCEEDED|FAILED|TIMED_OUT|ABORTED","output":..,"error":"..","cause":".."}
// or, when the harness itself is broken,
//   {"type":"HarnessError","message":".."}
// Exit code: 0 execution succeeded, 1 execution failed or timed out, 2
// harness error, 3 execution stopped.

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

const { StateMachine, ExecutionError, ExecutionTimeoutError, ExecutionAbortedError } = await import('aws-local-stepfunctions');

const EXIT_SUCCEEDED = 0;
const EXIT_FAILED = 1;
const EXIT_HARNESS = 2;
const EXIT_ABORTED = 3;

// stateContext stands in for $$.State, which the library leaves out.
const stateContext = {
  get EnteredTime() {
    return new Date().toISOString();
  },
};

// taskContext stands in for $$.Task: every read of Token is a new token,
// remembered so that the callback Task can find it in its Parameters.
const issuedTokens = new Set();
const taskContext = {
  get Token() {
    const t = `devstack-token-${randomUUID()}`;
    issuedTokens.add(t);
    return t;
  },
};

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
// must use several RIE instances: several URLs, or one URL in
// spec.concurrentTasks behind which the Go side spreads the calls over a pool.
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
      const local = localResource(name, state, spec);
      const url = spec.tasks[state.Resource];
      if (local) {
        taskResourceLocalHandlers[name] = local;
      } else if (typeof url !== 'string' || url === '') {
        unmapped.push(`${name} (${state.Resource})`);
      } else {
        taskResourceLocalHandlers[name] = (spec.concurrentTasks ?? []).includes(url)
          ? (input) => invoke(name, url, input)
          : (input) => serialized(url, () => invoke(name, url, input));
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

// --- Distributed Map emulation -------------------------------------------------

const ITEMS_PATH = '$.__devstack_items';

// emulateDistributedMaps rewrites, in every States object (nested ones
// too), each Map that has an ItemReader: see the header comment.
function emulateDistributedMaps(definition) {
  const states = definition.States ?? {};
  for (const state of Object.values(states)) {
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (processor) emulateDistributedMaps(processor);
    }
    if (state.Type === 'Parallel') {
      for (const branch of state.Branches ?? []) emulateDistributedMaps(branch);
    }
  }
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== 'Map') continue;
    if (state.ItemBatcher) throw harness(`Map ${name}: ItemBatcher is not emulated`);
    delete state.ResultWriter;
    if (!state.ItemReader) continue;
    const reader = state.ItemReader;
    if (reader.Resource !== 'arn:aws:states:::s3:getObject' || (reader.ReaderConfig?.InputType ?? 'JSON') !== 'JSON') {
      throw harness(`Map ${name}: only s3:getObject ItemReaders of InputType JSON are emulated`);
    }
    const readerName = `${name} (ItemReader)`;
    if (Object.hasOwn(states, readerName)) throw harness(`state name ${readerName} is taken`);
    states[readerName] = {
      Type: 'Task',
      Resource: reader.Resource,
      Parameters: reader.Parameters ?? {},
      ResultPath: ITEMS_PATH,
      Next: name,
      ...(state.Catch ? { Catch: state.Catch } : {}),
    };
    delete state.ItemReader;
    state.ItemsPath = ITEMS_PATH;
    // Whatever led to the Map now leads to its reader.
    const redirect = (target) => (target === name ? readerName : target);
    if (definition.StartAt === name) definition.StartAt = readerName;
    for (const [other, st] of Object.entries(states)) {
      if (other === readerName) continue;
      if (st.Next) st.Next = redirect(st.Next);
      if (st.Default) st.Default = redirect(st.Default);
      for (const c of st.Choices ?? []) c.Next = redirect(c.Next);
      for (const c of st.Catch ?? []) c.Next = redirect(c.Next);
    }
  }
  return definition;
}

async function readItems(stateName, params, spec) {
  if (!spec.s3Endpoint) throw harness(`state ${stateName}: spec.s3Endpoint is needed to emulate an ItemReader`);
  const { Bucket: bucket, Key: key } = params ?? {};
  if (typeof bucket !== 'string' || typeof key !== 'string') {
    throw harness(`state ${stateName}: ItemReader Parameters must give Bucket and Key, got ${JSON.stringify(params)}`);
  }
  const url = `${spec.s3Endpoint.replace(/\/$/, '')}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
  let res;
  let text;
  try {
    // moto refuses anonymous reads of private objects but does not verify
    // signatures: a well-formed SigV4 header with moto's static test key
    // is enough, and saves the harness a signing implementation.
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    res = await fetch(url, {
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=test/${day}/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
      },
    });
    text = await res.text();
  } catch (err) {
    throw harness(`state ${stateName}: reading ${url}: ${err.cause?.message ?? err.message}`);
  }
  if (res.status !== 200) {
    const err = new Error(`reading s3://${bucket}/${key}: HTTP ${res.status}`);
    err.name = 'States.ItemReaderFailed';
    throw err;
  }
  let items;
  try {
    items = JSON.parse(text);
  } catch {
    items = undefined;
  }
  if (!Array.isArray(items)) {
    const err = new Error(`s3://${bucket}/${key} is not a JSON array`);
    err.name = 'States.ItemReaderFailed';
    throw err;
  }
  return items;
}

// --- nested executions (startExecution.sync) ------------------------------------

const START_SYNC = new Set([
  'arn:aws:states:::states:startExecution.sync',
  'arn:aws:states:::states:startExecution.sync:2',
]);
const children = new Map(); // state machine ARN -> {definition, overrides}

async function loadChildren(spec) {
  for (const [arn, file] of Object.entries(spec.stateMachines ?? {})) {
    const text = await readFile(file, 'utf8');
    const definition = emulateCallbackTimeouts(emulateDistributedMaps(JSON.parse(substitute(text, spec.substitutions, file))));
    new StateMachine(definition); // validates, as for the top-level machine
    children.set(arn, { definition, overrides: null });
  }
  // Overrides after every child is known, so children can start children.
  for (const child of children.values()) child.overrides = buildOverrides(child.definition, spec);
}

function localResource(stateName, state, spec) {
  if (START_SYNC.has(state.Resource)) {
    const parsed = state.Resource.endsWith(':2');
    return (input) => startExecutionSync(stateName, input, parsed);
  }
  if (state.Resource === 'arn:aws:states:::s3:getObject' && stateName.endsWith(' (ItemReader)')) {
    return (input) => readItems(stateName, input, spec);
  }
  const dynamo = DYNAMODB_ACTIONS[state.Resource];
  if (dynamo) {
    return (input) => callDynamoDB(stateName, dynamo, input, spec);
  }
  if (state.Resource === 'arn:aws:states:::events:putEvents') {
    return (input) => putEvents(stateName, input, spec);
  }
  if (state.Resource === SQS_WAIT_FOR_TOKEN) {
    return (input) => sendAndWaitForToken(stateName, input, spec);
  }
  return null;
}

// --- SQS callback tasks (sendMessage.waitForTaskToken) -------------------------

const SQS_WAIT_FOR_TOKEN = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';
const TIMEOUT_PARAM = '__devstack_timeoutSeconds';
// A timeout the library never reaches: under Node's setTimeout limit of
// 2^31-1 ms (a longer delay fires at once).
const NEVER_SECONDS = 1_000_000;

// emulateCallbackTimeouts moves each callback Task's timeout into its
// Parameters, where the local handler reads it (the library would time the
// Task itself, without telling the broker), and gives the library a
// timeout it never reaches.
function emulateCallbackTimeouts(definition) {
  for (const [name, state] of collectStates(definition)) {
    if (state.Type !== 'Task' || state.Resource !== SQS_WAIT_FOR_TOKEN) continue;
    state.Parameters ??= {};
    if (state.TimeoutSecondsPath) {
      state.Parameters[`${TIMEOUT_PARAM}.$`] = state.TimeoutSecondsPath;
    } else {
      state.Parameters[TIMEOUT_PARAM] = state.TimeoutSeconds ?? NEVER_SECONDS;
    }
    if (state.HeartbeatSeconds || state.HeartbeatSecondsPath) throw harness(`state ${name}: heartbeats are not emulated`);
    delete state.TimeoutSecondsPath;
    state.TimeoutSeconds = NEVER_SECONDS;
  }
  return definition;
}

function findToken(value) {
  if (typeof value === 'string') return issuedTokens.has(value) ? value : undefined;
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) {
      const t = findToken(v);
      if (t) return t;
    }
  }
  return undefined;
}

async function brokerCall(stateName, spec, path, init) {
  try {
    const res = await fetch(`${spec.tokenBrokerEndpoint.replace(/\/$/, '')}${path}`, init);
    const text = await res.text();
    if (res.status >= 300) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
    return text === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw harness(`state ${stateName}: token broker ${path}: ${err.cause?.message ?? err.message}`);
  }
}

async function sendAndWaitForToken(stateName, params, spec) {
  if (!spec.sqsEndpoint || !spec.tokenBrokerEndpoint) {
    throw harness(`state ${stateName}: spec.sqsEndpoint and spec.tokenBrokerEndpoint are needed for sqs:sendMessage.waitForTaskToken`);
  }
  const { [TIMEOUT_PARAM]: timeoutSeconds, ...request } = params ?? {};
  const token = findToken(request);
  if (!token) throw harness(`state ${stateName}: the Parameters do not carry $$.Task.Token`);
  issuedTokens.delete(token);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
    // As Step Functions: TimeoutSecondsPath must give a positive integer.
    const err = new Error(`TimeoutSecondsPath gave ${JSON.stringify(timeoutSeconds)}, not a positive integer`);
    err.name = 'States.Runtime';
    throw err;
  }
  const timeoutMs = typeof spec.waitOverrideMs === 'number' ? spec.waitOverrideMs : timeoutSeconds * 1000;
  await brokerCall(stateName, spec, '/devstack/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, timeoutMs: Math.max(1, timeoutMs) }),
  });
  if (typeof request.MessageBody !== 'string') request.MessageBody = JSON.stringify(request.MessageBody ?? {});
  await callAWSJSON(stateName, spec.sqsEndpoint, request, {
    service: 'sqs', label: 'AmazonSQS', target: 'AmazonSQS.SendMessage', version: '1.0',
    errorPrefix: 'SQS', serverError: 'InternalErrorException', clientError: 'AmazonSQSException',
  });
  for (;;) {
    const r = await brokerCall(stateName, spec, `/devstack/tokens?token=${encodeURIComponent(token)}`, {});
    if (r.status === 'succeeded') return r.output ?? {};
    if (r.status === 'timedout') {
      const err = new Error('The task token was not answered within the task timeout');
      err.name = 'States.Timeout';
      throw err;
    }
  }
}

// --- EventBridge service integration ---------------------------------------

// putEvents does what Step Functions' optimized EventBridge integration
// does: a Detail object is sent as its JSON text, and a response with a
// non-zero FailedEntryCount fails the task with EventBridge.FailedEntry.
// Step Functions also appends the execution's and the state machine's ARNs
// to each entry's Resources; the library hands local handlers no context,
// so here Resources stay as the definition gives them.
async function putEvents(stateName, params, spec) {
  if (!spec.eventsEndpoint) throw harness(`state ${stateName}: spec.eventsEndpoint is needed for events:putEvents`);
  const entries = (params?.Entries ?? []).map((e) => ({
    ...e,
    Detail: typeof e.Detail === 'string' ? e.Detail : JSON.stringify(e.Detail ?? {}),
  }));
  const body = await callAWSJSON(stateName, spec.eventsEndpoint, { Entries: entries }, {
    service: 'events', label: 'EventBridge', target: 'AWSEvents.PutEvents', version: '1.1',
    errorPrefix: 'EventBridge', serverError: 'InternalException', clientError: 'EventBridgeException',
  });
  if ((body.FailedEntryCount ?? 0) > 0) {
    const failed = (body.Entries ?? []).filter((e) => e.ErrorCode);
    const err = new Error(JSON.stringify({ FailedEntryCount: body.FailedEntryCount, Entries: failed }));
    err.name = 'EventBridge.FailedEntry';
    throw err;
  }
  return body;
}

// callAWSJSON posts one call of an AWS JSON protocol service to moto. As
// for S3, moto does not verify signatures: a well-formed header with its
// static test key is enough. A service error becomes the error Step
// Functions names after the service and its code.
async function callAWSJSON(stateName, endpoint, params, { service, label, target, version, errorPrefix, serverError, clientError }) {
  const now = new Date();
  const amzDate = now.toISOString().replaceAll(/[-:]/g, '').replace(/\.\d{3}/, '');
  let res;
  let text;
  // A connection the emulator closed under the request ("other side
  // closed") is tried again, as the SDK behind Step Functions' service
  // integrations does; the writes the state machines make through here
  // are safe to repeat (their conditions let their own writer through).
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': `application/x-amz-json-${version}`,
          'x-amz-target': target,
          'x-amz-date': amzDate,
          authorization: `AWS4-HMAC-SHA256 Credential=test/${amzDate.slice(0, 8)}/us-east-1/${service}/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
        },
        body: JSON.stringify(params),
      });
      text = await res.text();
      break;
    } catch (err) {
      if (attempt >= 3) {
        throw harness(`state ${stateName}: calling ${service} at ${endpoint}: ${err.cause?.message ?? err.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
  let body;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status === 200 && body !== undefined) return body;
  const code = (body?.__type ?? '').split('#').pop() || (res.status >= 500 ? serverError : clientError);
  const message = body?.message ?? body?.Message ?? text.slice(0, 300);
  const err = new Error(`${message} (Service: ${label}, Status Code: ${res.status}, Error Code: ${code})`);
  err.name = `${errorPrefix}.${code}`;
  throw err;
}

// --- DynamoDB service integration --------------------------------------------

const DYNAMODB_ACTIONS = {
  'arn:aws:states:::dynamodb:getItem': 'GetItem',
  'arn:aws:states:::dynamodb:putItem': 'PutItem',
  'arn:aws:states:::dynamodb:updateItem': 'UpdateItem',
  'arn:aws:states:::dynamodb:deleteItem': 'DeleteItem',
};

async function callDynamoDB(stateName, action, params, spec) {
  if (!spec.dynamodbEndpoint) throw harness(`state ${stateName}: spec.dynamodbEndpoint is needed for dynamodb:${action}`);
  // Step Functions names the error after DynamoDB's error code and quotes
  // the SDK's message: "<message> (Service: DynamoDb, Status Code: 400, …)".
  return callAWSJSON(stateName, spec.dynamodbEndpoint, params, {
    service: 'dynamodb', label: 'DynamoDb', target: `DynamoDB_20120810.${action}`, version: '1.0',
    errorPrefix: 'DynamoDB', serverError: 'InternalServerErrorException', clientError: 'AmazonDynamoDBException',
  });
}


async function startExecutionSync(stateName, params, parsed) {
  const arn = params?.StateMachineArn;
  const child = children.get(arn);
  if (!child) throw harness(`state ${stateName}: no spec.stateMachines entry for ${arn}`);
  let input = params.Input ?? {};
  if (typeof input === 'string') input = JSON.parse(input);
  const name = params.Name ?? `${randomUUID()}`;
  const smName = arn.split(':').pop();
  const executionArn = `${arn.replace(':stateMachine:', ':execution:')}:${name}`;
  const startDate = Date.now();
  const execution = new StateMachine(child.definition, { validationOptions: { noValidate: true } }).run(input, {
    overrides: child.overrides,
    context: {
      Execution: { Id: executionArn, Name: name, RoleArn: 'arn:aws:iam::000000000000:role/devstack' },
      StateMachine: { Id: arn, Name: smName },
      State: stateContext,
      Task: taskContext,
    },
  });
  const pump = (async () => {
    for await (const ev of execution.eventLogs) emit(toLine(ev, name));
  })();
  let output;
  let failure;
  try {
    output = await execution.result;
  } catch (err) {
    if (err instanceof ExecutionError) {
      failure = { Status: 'FAILED', Error: err.cause?.name, Cause: stringifyCause(err.cause?.message) };
    } else if (err instanceof ExecutionTimeoutError) {
      failure = { Status: 'TIMED_OUT', Error: 'States.Timeout', Cause: err.message };
    } else {
      failure = { Status: 'ABORTED' };
    }
  }
  await pump;
  if (harnessFailure) throw harnessFailure;
  const described = {
    ExecutionArn: executionArn,
    StateMachineArn: arn,
    Name: name,
    Status: failure ? failure.Status : 'SUCCEEDED',
    StartDate: startDate,
    StopDate: Date.now(),
    Input: parsed ? input : JSON.stringify(input),
    InputDetails: { Included: true },
  };
  if (!failure) {
    described.Output = parsed ? output : JSON.stringify(output);
    described.OutputDetails = { Included: true };
    return described;
  }
  if (failure.Error !== undefined) described.Error = failure.Error;
  if (failure.Cause !== undefined) described.Cause = failure.Cause;
  const err = new Error(JSON.stringify(described));
  err.name = 'States.TaskFailed';
  throw err;
}

function toLine(ev, execution) {
  return {
    type: ev.type,
    execution,
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
  const definition = emulateCallbackTimeouts(emulateDistributedMaps(JSON.parse(substitute(text, spec.substitutions, spec.definitionFile))));
  await loadChildren(spec);
  const overrides = buildOverrides(definition, spec);
  if (spec.timeoutSeconds !== undefined) {
    if (!(spec.timeoutSeconds > 0)) throw harness('spec.timeoutSeconds must be positive');
    definition.TimeoutSeconds = spec.timeoutSeconds;
  }

  const machine = new StateMachine(definition);
  const name = spec.executionName || `devstack-${randomUUID()}`;
  const smArn = spec.stateMachineArn || 'arn:aws:states:us-east-1:000000000000:stateMachine:devstack';
  const execution = machine.run(spec.input ?? {}, {
    overrides,
    context: {
      Execution: {
        Id: `${smArn.replace(':stateMachine:', ':execution:')}:${name}`,
        Name: name,
        RoleArn: 'arn:aws:iam::000000000000:role/devstack',
      },
      StateMachine: { Id: smArn, Name: smArn.split(':').pop() },
      State: stateContext,
      Task: taskContext,
    },
  });
  listenForStop(() => execution.abort());

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
      result = { type: 'Result', status: 'TIMED_OUT', error: 'States.Timeout', cause: err.message };
    } else if (err instanceof ExecutionAbortedError) {
      result = { type: 'Result', status: 'ABORTED' };
    } else {
      throw err;
    }
  }
  await pump;

  if (harnessFailure) {
    finish(EXIT_HARNESS, { type: 'HarnessError', message: harnessFailure.message });
    return;
  }
  const code = { SUCCEEDED: EXIT_SUCCEEDED, ABORTED: EXIT_ABORTED }[result.status] ?? EXIT_FAILED;
  finish(code, result);
}

// listenForStop calls stop when stdin brings a line "stop" (the Go side's
// StopExecution). stdin closing without one changes nothing.
function listenForStop(stop) {
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    if (buffered.split('\n').some((l) => l.trim() === 'stop')) stop();
  });
  process.stdin.on('error', () => {});
  // stdin must not keep the process alive once the execution is over.
  process.stdin.unref?.();
}

try {
  await main();
} catch (err) {
  const message = harnessFailure?.message ?? (err instanceof Error ? err.message : String(err));
  finish(EXIT_HARNESS, { type: 'HarnessError', message });
}
