// The robust-aggregation tests' own trainer (a bring-your-own command, examples/byo-python/README.md):
// the model is one vector w, a site's data file names the vector its records pull w towards, and
// training moves w half way there. A hostile site's file says how it lies: it sends the honest move
// turned around and ten times as long, and claims ten times the records. Evaluation is honest at
// every site: loss is the mean squared distance to the site's target, accuracy the share of
// coordinates within 0.2 of it.
import { readFile, writeFile } from 'node:fs/promises';

const env = process.env;
const { readSafetensors, writeSafetensors } = await import(env.ROBUST_SAFETENSORS_MODULE);
const data = JSON.parse(await readFile(env.FLOTILLA_DATA, 'utf8'));
const target = Float32Array.from(data.target);

async function writeMetrics(w, samples) {
  let loss = 0;
  let close = 0;
  for (let j = 0; j < w.length; j++) {
    const d = w[j] - target[j];
    loss += (d * d) / w.length;
    if (Math.abs(d) < 0.2) close++;
  }
  await writeFile(env.FLOTILLA_METRICS_OUT, JSON.stringify({ num_samples: samples, loss, accuracy: close / w.length }));
}

const samples = data.hostile ? 1000 : 100;
switch (env.FLOTILLA_TASK) {
  case 'initialize':
    await writeSafetensors(env.FLOTILLA_MODEL_OUT, [{ name: 'w', shape: [target.length], data: new Float32Array(target.length) }]);
    break;
  case 'train': {
    if (env.ROBUST_SLOW_SITE === env.FLOTILLA_SITE) await new Promise((r) => setTimeout(r, 3000));
    const w = (await readSafetensors(env.FLOTILLA_MODEL_IN)).model[0].data;
    const step = data.hostile ? -10 * 0.5 : 0.5;
    const next = w.map((x, j) => x + step * (target[j] - x));
    await writeSafetensors(env.FLOTILLA_MODEL_OUT, [{ name: 'w', shape: [w.length], data: next }]);
    await writeMetrics(next, samples);
    break;
  }
  case 'evaluate':
    await writeMetrics((await readSafetensors(env.FLOTILLA_MODEL_IN)).model[0].data, samples);
    break;
}
