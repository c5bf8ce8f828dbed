// transformers.js's image processor alone, from a folder's preprocessor_config.json, on image files.
//
// Usage: node preprocess.mjs FOLDER IMAGE...
// Prints [{"dims": [1, C, H, W], "data": [...]}, ...]: the pixel_values it would feed the model.
// Any failure: one line on stderr, exit status 1.
import { basename, dirname } from 'node:path';
import { AutoProcessor, RawImage, env } from '@huggingface/transformers';

const [folder, ...images] = process.argv.slice(2);
env.allowRemoteModels = false; // a local folder only: this checks the field mapping, not the download
env.allowLocalModels = true;
env.localModelPath = dirname(folder) + '/';

try {
  const processor = await AutoProcessor.from_pretrained(basename(folder));
  const out = [];
  for (const file of images) {
    const { pixel_values } = await processor(await RawImage.read(file));
    out.push({ dims: pixel_values.dims, data: Array.from(pixel_values.data) });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (err) {
  process.stderr.write(`transformers.js: ${err?.message ?? err}\n`);
  process.exit(1);
}
