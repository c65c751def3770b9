// The asynchronous-aggregation tests' own trainer (a bring-your-own command): the model is one vector
// w, a site's data file names the vector its records pull w towards and how many records it has,
// and training moves w half way there, so a test can redo the aggregator's arithmetic. A site named
// in FEDBUFF_SLOW_SITE trains its first update only once the file FEDBUFF_RELEASE exists (the test
// makes it when it has seen versions made without that site), and then writes FEDBUFF_RELEASE.done.
// While the file FEDBUFF_PAUSE exists, every site but FEDBUFF_RUNNER waits before training, saying so
// in FEDBUFF_PAUSE.<site>: the test then knows none of them has an update on the way.
import { access, readFile, rm, writeFile } from 'node:fs/promises';

const env = process.env;
const { readSafetensors, writeSafetensors } = await import(env.FEDBUFF_SAFETENSORS_MODULE);
const data = JSON.parse(await readFile(env.FLOTILLA_DATA, 'utf8'));
const target = Float32Array.from(data.target);
const exists = (file) => access(file).then(() => true, () => false);

async function writeMetrics(w) {
  let loss = 0;
  let close = 0;
  for (let j = 0; j < w.length; j++) {
    const d = w[j] - target[j];
    loss += (d * d) / w.length;
    if (Math.abs(d) < 0.2) close++;
  }
  await writeFile(env.FLOTILLA_METRICS_OUT, JSON.stringify({ num_samples: data.records, loss, accuracy: close / w.length }));
}

switch (env.FLOTILLA_TASK) {
  case 'initialize':
    await writeSafetensors(env.FLOTILLA_MODEL_OUT, [{ name: 'w', shape: [target.length], data: new Float32Array(target.length) }]);
    break;
  case 'train': {
    const pause = env.FEDBUFF_PAUSE;
    if (pause && env.FLOTILLA_SITE !== env.FEDBUFF_RUNNER && (await exists(pause))) {
      await writeFile(`${pause}.${env.FLOTILLA_SITE}`, '');
      while (await exists(pause)) await new Promise((r) => setTimeout(r, 50));
      await rm(`${pause}.${env.FLOTILLA_SITE}`, { force: true });
    }
    const release = env.FEDBUFF_RELEASE;
    if (env.FEDBUFF_SLOW_SITE === env.FLOTILLA_SITE && release && !(await exists(`${release}.done`))) {
      while (!(await exists(release))) await new Promise((r) => setTimeout(r, 50));
    }
    const w = (await readSafetensors(env.FLOTILLA_MODEL_IN)).model[0].data;
    const next = w.map((x, j) => x + 0.5 * (target[j] - x));
    await writeSafetensors(env.FLOTILLA_MODEL_OUT, [{ name: 'w', shape: [w.length], data: next }]);
    await writeMetrics(next);
    if (env.FEDBUFF_SLOW_SITE === env.FLOTILLA_SITE && release) await writeFile(`${release}.done`, '');
    break;
  }
  case 'evaluate':
    await writeMetrics((await readSafetensors(env.FLOTILLA_MODEL_IN)).model[0].data);
    break;
}
