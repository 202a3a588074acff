#!/usr/bin/env node
// ort-run.js: runs an ONNX model in ONNX Runtime (the npm package
// onnxruntime-node) on an input read from a raw little-endian float32 file and
// writes each output as raw float32, the same interface as unet-run-raw, so
// the two runtimes can be compared on identical bytes.
//
//   node ort-run.js MODEL INPUT.f32 DIMS OUT_PREFIX
//
// DIMS is e.g. 2x3x64x64. Output K goes to OUT_PREFIX<K>.f32; one line per
// output is printed: K NAME DIMS. onnxruntime-node is found through the
// usual require() search (set NODE_PATH to an install's node_modules).
'use strict';
const fs = require('fs');
const path = require('path');

function die(msg, code) {
  process.stderr.write(`ort-run: ${msg}\n`);
  process.exit(code);
}

async function main(argv) {
  if (argv.length !== 4) die('usage: node ort-run.js MODEL INPUT.f32 DIMS OUT_PREFIX', 2);
  const [modelPath, inputPath, dimsText, prefix] = argv;
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    die(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); ` +
        'install it with npm install --ignore-scripts onnxruntime-node and set NODE_PATH', 3);
  }
  const dims = dimsText.split('x').map(Number);
  if (!dims.every((d) => Number.isInteger(d) && d >= 1 && d <= (1 << 20)))
    die(`bad DIMS '${dimsText}' (expected e.g. 2x3x64x64)`, 2);
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(inputPath);
  if (bytes.length !== count * 4)
    die(`${inputPath}: holds ${bytes.length} bytes, the shape needs ${count * 4}`, 2);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = bytes.readFloatLE(i * 4);

  // One thread: the comparison needs no speed, and the machine is shared.
  const session = await ort.InferenceSession.create(modelPath,
    { intraOpNumThreads: 1, interOpNumThreads: 1 });
  if (session.inputNames.length !== 1)
    die(`${modelPath} has ${session.inputNames.length} inputs, this tool feeds exactly 1`, 2);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  const results = await session.run(feeds);
  session.outputNames.forEach((name, k) => {
    const t = results[name];
    if (t.type !== 'float32') die(`output ${k} (${name}) is ${t.type}, only float32 is written`, 1);
    const out = Buffer.alloc(t.data.length * 4);
    for (let i = 0; i < t.data.length; i++) out.writeFloatLE(t.data[i], i * 4);
    const file = `${prefix}${k}.f32`;
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp.${process.pid}`);
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, file);
    process.stdout.write(`${k} ${name} ${t.dims.join('x')}\n`);
  });
}

main(process.argv.slice(2)).catch((e) => die(e && e.message ? e.message : String(e), 1));
