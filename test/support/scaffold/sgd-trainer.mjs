// A bring-your-own trainer that declares trainer.controlVariates (docs/non-iid.md): the model is one
// vector w, a site's loss is ½‖w − target‖² (its data file names the target), and training takes
// `steps` plain gradient steps w ← w − η·(w − target + correction), the correction being SCAFFOLD's
// c − c_i from FLOTILLA_CORRECTION_IN when the client gives one. It says how many steps it took.
import { readFile, writeFile } from 'node:fs/promises';

const env = process.env;
const { readSafetensors, writeSafetensors } = await import(env.SAFETENSORS_MODULE);
const data = JSON.parse(await readFile(env.FLOTILLA_DATA, 'utf8'));
const target = Float64Array.from(data.target);
const loss = (w) => w.reduce((s, x, j) => s + 0.5 * (x - target[j]) ** 2, 0);

switch (env.FLOTILLA_TASK) {
  case 'initialize':
    await writeSafetensors(env.FLOTILLA_MODEL_OUT, [{ name: 'w', shape: [target.length], data: new Float32Array(target.length) }]);
    break;
  case 'train': {
    const config = JSON.parse(env.FLOTILLA_CONFIG);
    const w = Float64Array.from((await readSafetensors(env.FLOTILLA_MODEL_IN)).model[0].data);
    const correction = env.FLOTILLA_CORRECTION_IN ? (await readSafetensors(env.FLOTILLA_CORRECTION_IN)).model[0].data : new Float32Array(w.length);
    for (let k = 0; k < data.steps; k++) for (let j = 0; j < w.length; j++) w[j] -= config.learning_rate * (w[j] - target[j] + correction[j]);
    await writeSafetensors(env.FLOTILLA_MODEL_OUT, [{ name: 'w', shape: [w.length], data: Float32Array.from(w) }]);
    await writeFile(env.FLOTILLA_METRICS_OUT, JSON.stringify({ num_samples: 10, loss: loss(w), accuracy: 0, local_steps_taken: data.steps }));
    break;
  }
  case 'evaluate': {
    const w = (await readSafetensors(env.FLOTILLA_MODEL_IN)).model[0].data;
    await writeFile(env.FLOTILLA_METRICS_OUT, JSON.stringify({ num_samples: 10, loss: loss(w), accuracy: 0 }));
    break;
  }
}
