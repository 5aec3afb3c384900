'use strict';
// Drives the ExperimentTracker with the npm `mlflow` package (v2.0.7, a JavaScript MLflow client nobody here wrote) and
// checks every answer. Exits 0 when all checks pass, 1 with a message naming the first mismatch.
// Environment: MLFLOW_TRACKING_URI (the tracker's base URL), MLFLOW_TRACKING_TOKEN (the platform API key),
// MLOPS_CHECK_ARTIFACTS=true to include artifacts/list. NODE_PATH must reach eng/node/node_modules.
// The client console.logs every request body it sends; this script's own lines start with "check:".
// Where the client has no method (experiments get-by-name and search) or a broken one (setExperimentTag builds the URL
// without a slash), the call goes through the client's own request function (MLflowBase.req) with MLflow's path.
const MLflow = require('mlflow');
const { MLflowBase } = require('mlflow/lib/mlflow');

const endpoint = (process.env.MLFLOW_TRACKING_URI || '').replace(/\/+$/, '');
const token = process.env.MLFLOW_TRACKING_TOKEN || '';
const checkArtifacts = process.env.MLOPS_CHECK_ARTIFACTS === 'true';
if (!endpoint || !token) {
  console.error('check: MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN must be set');
  process.exit(2);
}

const settings = { endpoint, headers: { Authorization: `Bearer ${token}` } };
const client = new MLflow(settings);
const { Experiments, Runs, Metrics, Artifacts } = client;

class Raw extends MLflowBase {
  constructor(path) {
    super(settings);
    this.path = path;
  }
}
const experimentsRaw = new Raw('/experiments');

let checks = 0;
function fail(message) {
  throw new Error(`check failed: ${message}`);
}
function equal(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
  checks++;
}
function ok(condition, what) {
  if (!condition) fail(what);
  checks++;
}
function log(message) {
  console.log(`check: ${message}`);
}

// The client throws Error("Error: {\"status\":..,\"statusText\":..,\"data\":{error_code,message}}").
async function expectError(promise, status, errorCode, what) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  if (!error) fail(`${what}: expected ${status} ${errorCode}, but the call succeeded`);
  const json = String(error.message).replace(/^(Error: )+/, '');
  let parsed;
  try {
    parsed = JSON.parse(json);
  } catch {
    fail(`${what}: expected ${status} ${errorCode}, got a non-HTTP error: ${error.message}`);
  }
  equal(parsed.status, status, `${what}: HTTP status`);
  equal(parsed.data && parsed.data.error_code, errorCode, `${what}: error_code`);
  ok(typeof parsed.data.message === 'string' && parsed.data.message.length > 0, `${what}: the error has a message`);
}

const tagValue = (tags, key) => ((tags || []).find(t => t.key === key) || {}).value;
const metricValue = (run, key) => ((run.data.metrics || []).find(m => m.key === key) || {}).value;
const paramValue = (run, key) => ((run.data.params || []).find(p => p.key === key) || {}).value;

async function experiments(unique) {
  const name = `js-client-${unique}`;
  const { experiment_id: id } = await Experiments.create({ name });
  ok(/^\d+$/.test(id), `experiments/create returns a numeric experiment_id (got ${id})`);

  let { experiment } = await Experiments.get({ experiment_id: id });
  equal(experiment.experiment_id, id, 'experiments/get: experiment_id');
  equal(experiment.name, name, 'experiments/get: name');
  equal(experiment.lifecycle_stage, 'active', 'experiments/get: lifecycle_stage');
  equal(experiment.artifact_location, `mlflow-artifacts:/${id}`, 'experiments/get: artifact_location');

  const byName = await experimentsRaw.req('get', '/get-by-name', { experiment_name: name });
  equal(byName.experiment.experiment_id, id, 'experiments/get-by-name: experiment_id');

  const renamed = `${name}-renamed`;
  await Experiments.update({ experiment_id: id, new_name: renamed });
  ({ experiment } = await Experiments.get({ experiment_id: id }));
  equal(experiment.name, renamed, 'experiments/update renames');

  // The client's setExperimentTag posts to ".../experimentsset-experiment-tag" (no slash): the tracker answers as
  // MLflow does for an unknown path, and the real endpoint is called through the client's transport.
  await expectError(Experiments.setExperimentTag({ experiment_id: id, key: 'team', value: 'js' }), 404, 'ENDPOINT_NOT_FOUND',
    'the client\'s setExperimentTag (malformed URL)');
  await experimentsRaw.req('post', '/set-experiment-tag', { experiment_id: id, key: 'team', value: 'js' });
  ({ experiment } = await Experiments.get({ experiment_id: id }));
  equal(tagValue(experiment.tags, 'team'), 'js', 'experiments/set-experiment-tag: the tag is on the experiment');

  const search = filter => experimentsRaw.req('post', '/search', { filter, max_results: 10 })
    .then(r => (r.experiments || []).map(e => e.experiment_id));
  equal(await search(`name = '${renamed}'`), [id], 'experiments/search by name');
  equal(await search(`name LIKE 'js-client-${unique}%' AND tags.team = 'js'`), [id], 'experiments/search by name pattern and tag');

  await Experiments.delete({ experiment_id: id });
  ({ experiment } = await Experiments.get({ experiment_id: id }));
  equal(experiment.lifecycle_stage, 'deleted', 'experiments/delete: lifecycle_stage');
  equal(await search(`name = '${renamed}'`), [], 'experiments/search hides a deleted experiment');
  await Experiments.restore({ experiment_id: id });
  ({ experiment } = await Experiments.get({ experiment_id: id }));
  equal(experiment.lifecycle_stage, 'active', 'experiments/restore: lifecycle_stage');

  await expectError(Experiments.create({ name: renamed }), 400, 'RESOURCE_ALREADY_EXISTS', 'experiments/create with a taken name');
  await expectError(Experiments.get({ experiment_id: '987654321987' }), 404, 'RESOURCE_DOES_NOT_EXIST', 'experiments/get of an unknown id');
  log(`experiments: create, get, get-by-name, update, set-experiment-tag, search, delete, restore (experiment ${id})`);
  return id;
}

async function runs(experimentId) {
  const start = Date.now() - 60_000;
  const created = await Runs.create({
    experiment_id: experimentId, user_id: 'js-user', start_time: start,
    tags: [{ key: 'mlflow.runName', value: 'js-best' }, { key: 'team', value: 'js' }],
  });
  const best = created.run.info.run_id;
  ok(/^[0-9a-f]{32}$/.test(best), `runs/create returns a 32-hex run_id (got ${best})`);
  equal(created.run.info.experiment_id, experimentId, 'runs/create: experiment_id');
  equal(created.run.info.status, 'RUNNING', 'runs/create: status');
  equal(created.run.info.user_id, 'js-user', 'runs/create: user_id');
  equal(created.run.info.start_time, start, 'runs/create: start_time');
  equal(created.run.info.run_name, 'js-best', 'runs/create: run_name from the mlflow.runName tag');
  equal(tagValue(created.run.data.tags, 'team'), 'js', 'runs/create: tags');

  // Three steps of a training loop, one call each, then a batch.
  const losses = [0.9, 0.5, 0.2];
  for (const [step, value] of losses.entries())
    await Runs.logMetric({ run_id: best, key: 'loss', value, timestamp: start + step * 1000, step });
  await Runs.logParameter({ run_id: best, key: 'lr', value: '0.01' });
  await Runs.logBatch({
    run_id: best,
    metrics: [{ key: 'acc', value: 0.8, timestamp: start + 3000, step: 3 }, { key: 'acc', value: 0.93, timestamp: start + 4000, step: 4 }],
    params: [{ key: 'optimizer', value: 'adam' }, { key: 'lr', value: '0.01' }],
    tags: [{ key: 'stage', value: 'trained' }],
  });
  await Runs.setTag({ run_id: best, key: 'scratch', value: 'gone soon' });
  await Runs.deleteTag({ run_id: best, key: 'scratch' });

  let { run } = await Runs.get({ run_id: best });
  equal(metricValue(run, 'loss'), 0.2, 'runs/get: latest loss is the last step\'s');
  equal(metricValue(run, 'acc'), 0.93, 'runs/get: latest acc from log-batch');
  equal(paramValue(run, 'lr'), '0.01', 'runs/get: param from log-parameter');
  equal(paramValue(run, 'optimizer'), 'adam', 'runs/get: param from log-batch');
  equal(tagValue(run.data.tags, 'stage'), 'trained', 'runs/get: tag from log-batch');
  equal(tagValue(run.data.tags, 'scratch'), undefined, 'runs/delete-tag removed the tag');

  await expectError(Runs.logParameter({ run_id: best, key: 'lr', value: '0.1' }), 400, 'INVALID_PARAMETER_VALUE',
    'runs/log-parameter changing a param');
  await expectError(Runs.deleteTag({ run_id: best, key: 'never-set' }), 404, 'RESOURCE_DOES_NOT_EXIST', 'runs/delete-tag of an unknown tag');
  await expectError(Runs.get({ run_id: '0123456789abcdef0123456789abcdef' }), 404, 'RESOURCE_DOES_NOT_EXIST', 'runs/get of an unknown run');

  const { metrics: history } = await Metrics.getHistory({ run_id: best, metric_key: 'loss' });
  equal(history.map(m => [m.step, m.value, m.timestamp]), losses.map((v, step) => [step, v, start + step * 1000]),
    'metrics/get-history: every point of loss, in step order');

  const end = Date.now();
  const { run_info: finished } = await Runs.update({ run_id: best, status: 'FINISHED', end_time: end });
  equal(finished.status, 'FINISHED', 'runs/update: status');
  equal(finished.end_time, end, 'runs/update: end_time');

  // Two more runs: one that passes the filter with a lower acc, one that fails it.
  const other = (await Runs.create({ experiment_id: experimentId, start_time: start + 1 })).run.info.run_id;
  await Runs.logBatch({ run_id: other, metrics: [{ key: 'loss', value: 0.4, timestamp: start, step: 0 }, { key: 'acc', value: 0.7, timestamp: start, step: 0 }], params: [{ key: 'lr', value: '0.01' }] });
  const poor = (await Runs.create({ experiment_id: experimentId, start_time: start + 2 })).run.info.run_id;
  await Runs.logBatch({ run_id: poor, metrics: [{ key: 'loss', value: 2.5, timestamp: start, step: 0 }, { key: 'acc', value: 0.99, timestamp: start, step: 0 }], params: [{ key: 'lr', value: '0.01' }] });

  const search = view => Runs.search({
    experiment_ids: [experimentId], filter: "metrics.loss < 1 and params.lr = '0.01'", run_view_type: view,
    order_by: ['metrics.acc DESC'], max_results: 10,
  }).then(r => (r.runs || []).map(x => x.info.run_id));
  equal(await search('ACTIVE_ONLY'), [best, other], 'runs/search: metric and param filter, ordered by acc');

  await Runs.delete({ run_id: other });
  ({ run } = await Runs.get({ run_id: other }));
  equal(run.info.lifecycle_stage, 'deleted', 'runs/delete: lifecycle_stage');
  equal(await search('ACTIVE_ONLY'), [best], 'runs/search hides a deleted run');
  equal(await search('DELETED_ONLY'), [other], 'runs/search DELETED_ONLY');
  await expectError(Runs.logMetric({ run_id: other, key: 'loss', value: 0.1, timestamp: end, step: 9 }), 400, 'INVALID_PARAMETER_VALUE',
    'runs/log-metric on a deleted run');
  await Runs.restore({ run_id: other });
  equal(await search('ALL'), [best, other], 'runs/restore brings the run back');
  log(`runs: create, log-metric, log-parameter, log-batch, set-tag, delete-tag, get, update, search, delete, restore; metrics/get-history (run ${best})`);

  if (checkArtifacts) {
    let listing = await Artifacts.list({ run_id: best, path: '' });
    equal(listing.root_uri, created.run.info.artifact_uri, 'artifacts/list: root_uri is the run\'s artifact_uri');
    equal(listing.files, undefined, 'artifacts/list: a run without artifacts lists none');
    // The client cannot upload; MLflow's artifact proxy takes the file (PUT), then the client lists it.
    const body = 'weights of a very small model';
    const root = created.run.info.artifact_uri.replace(/^mlflow-artifacts:\/*/, '');
    const put = await fetch(`${endpoint}/api/2.0/mlflow-artifacts/artifacts/${root}/model/weights.bin`,
      { method: 'PUT', headers: settings.headers, body });
    equal(put.status, 200, 'mlflow-artifacts PUT of model/weights.bin');
    listing = await Artifacts.list({ run_id: best, path: '' });
    equal(listing.files, [{ path: 'model', is_dir: true }], 'artifacts/list at the root: the model folder');
    listing = await Artifacts.list({ run_id: best, path: 'model' });
    equal(listing.files, [{ path: 'model/weights.bin', is_dir: false, file_size: Buffer.byteLength(body) }],
      'artifacts/list of model/: the file with its size');
    await expectError(Artifacts.list({ run_id: best, path: '../other' }), 400, 'INVALID_PARAMETER_VALUE', 'artifacts/list with a traversal path');
    log('artifacts: list (empty, a folder, a file), traversal refused');
  } else {
    log('artifacts: list not checked (MLOPS_CHECK_ARTIFACTS is not true)');
  }
}

(async () => {
  const unique = `${Date.now()}-${Math.random().toString(16).slice(2, 8)}`;
  const experimentId = await experiments(unique);
  await runs(experimentId);
  log(`all ${checks} checks passed`);
})().catch(e => {
  console.error(`check: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
