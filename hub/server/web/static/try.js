// The repo page's "try it" widget: runs the repo's end-to-end (e2e) ONNX model in this browser with
// onnxruntime-web, on an image the reader picks, and shows the top-5 labels. Nothing is uploaded.
//
// Why it looks like this:
// - The e2e model takes the decoded image as it is (uint8, [1, height, width, 3], RGB, channels last)
//   and does resizing and normalisation inside the graph, so this script only decodes pixels.
// - Pixels must be the file's own values, as hub.runtime (Pillow) sees them: createImageBitmap with
//   colorSpaceConversion 'none' (no colour management) and premultiplyAlpha 'none'; the canvas gives
//   RGBA, the alpha is dropped like Pillow's convert("RGB") does (grey images arrive as R = G = B).
//   A 2D canvas stores pixels premultiplied (a fully transparent pixel reads back black), so the bytes
//   are read through a WebGL texture instead; without WebGL the canvas is used and the page says so
//   when the image has transparent pixels.
// - The page's CSP allows scripts from this origin only: onnxruntime-web (the WASM-only build) comes
//   from the hub itself (data-ort), one thread (no cross-origin isolation here), no proxy worker.
// - The model and config.json come from the repo's resolve URL (the one huggingface_hub uses), so a
//   private repo works for a signed-in reader: the same-origin fetch carries the session cookie.
// - Every message goes in as text (labels come from whoever pushed the repo), never as HTML.

const root = document.getElementById("try-widget");
const input = document.getElementById("try-input");
const result = document.getElementById("try-result");
const preview = document.getElementById("try-preview");
const MAX_PIXELS = 40e6; // ~160 MB of RGBA: beyond that a tab may die instead of answering
let loading = null; // the promise of {ort, session, config}, made on the first pick
let latest = 0; // only the newest pick may write its answer or draw its preview
let running = Promise.resolve(); // one inference at a time: a session runs one call at once

class Stale extends Error {} // a newer pick came in: this one stops quietly

class UserError extends Error {}

// data-state (ready, busy, done, error) and data-pick (which pick the answer is for) let a page test
// wait for this pick's answer instead of guessing from the text.
function show(state, ...nodes) {
  result.dataset.state = state;
  result.dataset.pick = String(latest);
  result.replaceChildren(...nodes);
}

function line(text, className) {
  const p = document.createElement("p");
  p.textContent = text;
  if (className) p.className = className;
  return p;
}

function fail(error) {
  const known = error instanceof UserError;
  if (!known) console.error(error);
  const text = known ? error.message : `Could not run the model: ${String(error && error.message || error).slice(0, 300)}`;
  const p = line(text, "error");
  p.setAttribute("role", "alert");
  show("error", p);
}

async function download(url, what) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    const why = response.headers.get("X-Error-Message") || response.statusText;
    throw new UserError(`Could not download the ${what} (HTTP ${response.status}: ${why}).`);
  }
  return response;
}

function load() {
  if (loading) return loading;
  loading = (async () => {
    const base = root.dataset.ort;
    const ort = await import(base + "ort.wasm.min.mjs");
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = base;
    const [config, model] = await Promise.all([
      download(root.dataset.config, "config.json").then((r) => r.json()),
      download(root.dataset.model, "model").then((r) => r.arrayBuffer()),
    ]);
    const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ["wasm"] });
    return { ort, session, config };
  })();
  loading.catch(() => { loading = null; }); // a failed download may be retried by the next pick
  return loading;
}

// The file's RGBA bytes as stored, alpha not multiplied in: a WebGL texture uploaded with
// UNPACK_PREMULTIPLY_ALPHA off and read back. Null when WebGL2 is missing or the image is too large
// for a texture; the caller then reads a 2D canvas (exact for opaque pixels only).
function straightRgba(bitmap) {
  const { width, height } = bitmap;
  const gl = new OffscreenCanvas(1, 1).getContext("webgl2", { premultipliedAlpha: false });
  if (!gl) return null;
  try {
    const limit = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    if (width > limit || height > limit) return null;
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.bindFramebuffer(gl.FRAMEBUFFER, gl.createFramebuffer());
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, gl.getParameter(gl.TEXTURE_BINDING_2D), 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const rgba = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba); // row 0 = the image's top row
    return gl.getError() === gl.NO_ERROR ? rgba : null;
  } finally {
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext(); // browsers cap live contexts; one per pick would run out
  }
}

async function decode(file, mine) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new UserError(`${file.name} is not an image this browser can decode (${file.type || "unknown type"}); pick a PNG, JPEG, GIF, WebP or BMP file.`);
  }
  if (mine !== latest) {
    bitmap.close();
    throw new Stale();
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new UserError(`${file.name} has ${width}×${height} pixels; the widget takes up to ${MAX_PIXELS / 1e6} million.`);
  }
  preview.width = width;
  preview.height = height;
  const context = preview.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
  context.clearRect(0, 0, width, height);
  context.drawImage(bitmap, 0, 0);
  preview.classList.toggle("tiny", width < 96 && height < 96); // shown enlarged: crisp pixels, not a blur
  preview.hidden = false;
  let rgba = straightRgba(bitmap);
  const exact = rgba !== null;
  bitmap.close();
  if (!exact) rgba = context.getImageData(0, 0, width, height, { colorSpace: "srgb" }).data;
  const rgb = new Uint8Array(width * height * 3);
  let translucent = false;
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
    if (rgba[i + 3] !== 255) translucent = true;
  }
  return { rgb, width, height, translucent: translucent && !exact };
}

function top(probabilities, labels, k) {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
  return order.slice(0, k).map((i) => ({ label: labels[i] ?? String(i), score: probabilities[i] }));
}

function table(rows, note) {
  const list = document.createElement("ol");
  list.id = "try-top";
  for (const row of rows) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "try-label";
    label.textContent = row.label;
    const bar = document.createElement("meter");
    bar.min = 0;
    bar.max = 1;
    bar.value = row.score;
    const score = document.createElement("span");
    score.className = "try-score";
    score.textContent = row.score.toFixed(4);
    item.append(label, bar, score);
    list.append(item);
  }
  show("done", list, line(note, "muted"));
}

async function run(file, mine) {
  preview.hidden = true; // never beside the answer for another file
  const first = loading === null;
  show("busy", line(first ? `Loading the model (${root.dataset.sizeText}) and onnxruntime-web…` : "Running the model…", "muted"));
  const [{ ort, session, config }, image] = await Promise.all([load(), decode(file, mine)]);
  const e2e = config.e2e || {};
  const name = (e2e.input && e2e.input.name) || session.inputNames[0];
  const tensor = new ort.Tensor("uint8", image.rgb, [1, image.height, image.width, 3]);
  let ms = 0;
  const job = running.then(async () => {
    const started = performance.now();
    const outputs = await session.run({ [name]: tensor });
    ms = performance.now() - started;
    return outputs;
  });
  running = job.catch(() => {});
  const outputs = await job;
  const probabilities = (outputs.probabilities || outputs[session.outputNames[0]]).data;
  if (mine !== latest) return;
  const labels = Array.isArray(config.label_names) ? config.label_names : [];
  let note = `${file.name}: ${image.width}×${image.height} pixels, ran in ${ms.toFixed(1)} ms in this browser.`;
  if (image.translucent) note += " The image has transparent pixels; the browser stores them premultiplied, so their colours may differ slightly from hub.runtime's.";
  table(top(Array.from(probabilities), labels, 5), note);
}

input.addEventListener("change", () => {
  const file = input.files && input.files[0];
  if (!file) return;
  const mine = ++latest;
  run(file, mine).catch((error) => { if (mine === latest) fail(error); });
});
input.disabled = false;
show("ready", line(`Pick an image: the model (${root.dataset.sizeText}) downloads on first use and runs here.`, "muted"));
