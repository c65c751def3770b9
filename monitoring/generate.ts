/** `npm run gen:monitoring`: writes the rules file and the dashboard from monitoring/ (see files.ts). */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../operator/api/crds.js';
import { generatedFiles } from './files.js';

for (const [file, text] of Object.entries(generatedFiles())) {
  const target = path.join(packageRoot, file);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, text);
  process.stdout.write(`wrote ${file}\n`);
}
