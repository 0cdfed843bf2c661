// Writes a TF.js layers model that a package ships wrapped in JavaScript modules (as
// nsfwjs does: model.min.js exporting model.json's content, one <shard>.min.js per weight
// shard exporting its bytes in base64) back as tensorflowjs_converter wrote it:
// model.json and the binary shards, which lumos opens directly.
//
// usage: node unwrap_tfjs_modules.js PACKAGE_MODEL_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const [source, out] = process.argv.slice(2).map(p => path.resolve(p));
const model = require(path.join(source, 'model.min.js'));
const partial = `${out}.tmp`;
fs.rmSync(partial, {recursive: true, force: true});
fs.mkdirSync(partial, {recursive: true});
for (const group of model.weightsManifest) {
  for (const shard of group.paths) {
    const encoded = require(path.join(source, `${shard}.min.js`));
    fs.writeFileSync(path.join(partial, shard), Buffer.from(typeof encoded === 'string' ? encoded : encoded.default, 'base64'));
  }
}
fs.writeFileSync(path.join(partial, 'model.json'), JSON.stringify(model));
fs.rmSync(out, {recursive: true, force: true});
fs.renameSync(partial, out);
