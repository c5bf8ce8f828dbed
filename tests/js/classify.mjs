// transformers.js pipeline() on a repo served by `hub serve`, exactly as a Node deployer would call it.
//
// Usage: node classify.mjs JOB.json
//   JOB: {"endpoint": "http://127.0.0.1:PORT", "repo": "ns/name", "revision": "main" | sha,
//         "task": "image-classification" | "text-classification", "cache_dir": "/tmp/...",
//         "inputs": [image file paths | texts], "batch": 32}
// Prints one JSON object: {"version", "dtype", "predictions": [{"label", "score"}, ...]} (top-1 per input).
// Any failure: one line on stderr, exit status 1.
import { readFileSync } from 'node:fs';
import { env, pipeline } from '@huggingface/transformers';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
env.remoteHost = job.endpoint.replace(/\/?$/, '/');
env.remotePathTemplate = '{model}/resolve/{revision}/'; // the default, stated: hub serve's resolve route
env.allowRemoteModels = true;
env.allowLocalModels = false; // never a same-named folder on disk: only what the server serves
env.cacheDir = job.cache_dir;

try {
  const classify = await pipeline(job.task, job.repo, { revision: job.revision ?? 'main' });
  const predictions = [];
  const batch = job.batch ?? 32;
  for (let i = 0; i < job.inputs.length; i += batch) {
    const chunk = job.inputs.slice(i, i + batch);
    const out = await classify(chunk, { top_k: 1 });
    // image-classification answers a list per input; text-classification with top_k 1 a flat list
    for (const item of out) predictions.push(Array.isArray(item) ? item[0] : item);
  }
  const session = classify.model.sessions?.model;
  process.stdout.write(JSON.stringify({ version: env.version, dtype: session?.config?.dtype ?? null,
                                        predictions }) + '\n');
} catch (err) {
  process.stderr.write(`transformers.js: ${err?.message ?? err}\n`);
  process.exit(1);
}
