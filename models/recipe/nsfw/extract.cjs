// Reads nsfwjs' bundled MobileNetV2 (a Keras layers model and its uint8-quantized weights, each embedded in a
// UMD .min.js) and writes them as plain files: topology.json (the model JSON, weights manifest included)
// and weights.bin (the raw shard), for convert.py. Usage: node extract.cjs <out-dir>
const fs = require('node:fs');
const path = require('node:path');

const out = process.argv[2];
if (!out) throw new Error('usage: node extract.cjs <out-dir>');
// The package's exports hide package.json, so find its folder from the main entry (dist/cjs/index.js).
const pkgDir = path.resolve(path.dirname(require.resolve('nsfwjs')), '..', '..');
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
if (version !== '4.4.0') throw new Error(`expected nsfwjs 4.4.0, found ${version}`);
const modelDir = path.join(pkgDir, 'dist', 'models', 'mobilenet_v2');
const modelJson = require(path.join(modelDir, 'model.min.js'));
const shard = require(path.join(modelDir, 'group1-shard1of1.min.js'));
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'topology.json'), JSON.stringify(modelJson));
fs.writeFileSync(path.join(out, 'weights.bin'), Buffer.from(shard, 'base64'));
console.log(
  `nsfwjs ${version}: ${Object.keys(modelJson).join(', ')}; ${Buffer.from(shard, 'base64').length} weight bytes`,
);
