// Runs `flotilla operator` from the build until operator/cli/main.ts has the command: the same
// operatorMain, the same flags (all strings, as the CLI registers them).
import process from 'node:process';
import { parseArgs } from 'node:util';

const { operatorMain } = await import('../../dist/operator/hub/operator.js');
const { OPERATOR_FLAGS } = await import('../../dist/operator/hub/operator-settings.js');
const args = process.argv.slice(2).filter((a) => a !== 'operator');
const { values } = parseArgs({ args, options: Object.fromEntries(OPERATOR_FLAGS.map((flag) => [flag, { type: 'string' }])) });
process.exitCode = await operatorMain(values);
