// The e2e graph in onnxruntime-node on pixels decoded by sharp, as a Node deployer runs it.
// usage: node e2e_labels.mjs MODEL.onnx IMAGE...  -> prints one JSON line: [{label_id, probabilities}, ...]
import ort from "onnxruntime-node";
import sharp from "sharp";

const [model, ...files] = process.argv.slice(2);
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
const answers = [];
for (const file of files) {
  // uint8 RGB (H, W, 3) at the file's own size: EXIF orientation applied, alpha dropped, grey -> RGB
  const { data, info } = await sharp(file).rotate().removeAlpha().toColourspace("srgb")
    .raw().toBuffer({ resolveWithObject: true });
  const image = new ort.Tensor("uint8", data, [1, info.height, info.width, 3]);
  const { probabilities, label_id } = await session.run({ image });
  answers.push({ label_id: Number(label_id.data[0]), probabilities: Array.from(probabilities.data) });
}
console.log(JSON.stringify(answers));
