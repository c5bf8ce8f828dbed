// The e2e graph's timing loop for bench/deploy_runtimes.py, shared by onnxruntime-node and
// onnxruntime-web (the browser page imports `benchmark` from this file), so both runtimes run
// exactly the same loop on exactly the same uint8 pixels.
//
// Node usage: node bench/deploy_runtimes.mjs JOB.json
//   JOB: {"model": "model_e2e.onnx", "node_modules": "/abs/tests/js/node_modules", "threads": 1,
//         "warmup": 10, "iters": 100,
//         "inputs": [{"name": "digits", "file": "digits.bin", "shapes": [[h, w, 3], ...]}, ...]}
//   (paths relative to JOB.json's folder; each .bin holds the images' RGB bytes back to back)
// Prints one JSON object: {"runtime", "version", "threads", "load_ms", "inputs": {name: {"times_ms", "labels"}}}.
// Any failure: one line on stderr, exit status 1.

/** Time `session.run` (batch 1) after `job.warmup` runs, `job.iters` times per input set, cycling its images. */
export async function benchmark(ort, job, io) {
  const started = performance.now();
  const session = await ort.InferenceSession.create(io.model, {
    executionProviders: io.providers, graphOptimizationLevel: 'all', ...(io.sessionOptions ?? {}),
  });
  const loadMs = performance.now() - started;
  const inputs = {};
  for (const spec of job.inputs) {
    const bytes = await io.load(spec.file);
    const tensors = [];
    let offset = 0;
    for (const [h, w, c] of spec.shapes) {
      tensors.push(new ort.Tensor('uint8', bytes.subarray(offset, offset + h * w * c), [1, h, w, c]));
      offset += h * w * c;
    }
    if (offset !== bytes.length) throw new Error(`${spec.file}: ${bytes.length} bytes, shapes say ${offset}`);
    const labels = new Array(tensors.length).fill(null);
    for (let i = 0; i < job.warmup; i++) await session.run({ image: tensors[i % tensors.length] });
    const times = [];
    for (let i = 0; i < job.iters; i++) {
      const k = i % tensors.length;
      const t0 = performance.now();
      const out = await session.run({ image: tensors[k] });
      times.push(performance.now() - t0);
      labels[k] = Number(out.label_id.data[0]);
    }
    inputs[spec.name] = { times_ms: times, labels };
  }
  await session.release?.();
  return { threads: job.threads, load_ms: loadMs, inputs };
}

if (typeof window === 'undefined') { // run by Node, not imported by the page
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  try {
    const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
    const base = dirname(process.argv[2]);
    const require = createRequire(join(dirname(job.node_modules), 'package.json'));
    const ort = require('onnxruntime-node');
    const result = await benchmark(ort, job, {
      model: join(base, job.model), providers: ['cpu'],
      sessionOptions: { intraOpNumThreads: job.threads, interOpNumThreads: 1 },
      load: async (name) => new Uint8Array(readFileSync(join(base, name))),
    });
    result.runtime = 'onnxruntime-node';
    result.version = require('onnxruntime-node/package.json').version;
    result.node = process.version;
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (err) {
    process.stderr.write(`deploy_runtimes.mjs: ${err?.stack ?? err}\n`);
    process.exit(1);
  }
}
