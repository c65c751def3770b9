/** The sandbox's commands: `up` (npm run sandbox), `down` (npm run sandbox:down), and `serve`, its background process. */
import { down } from './down.js';
import { serve } from './serve.js';
import { up } from './up.js';

const command = process.argv[2];
if (command === 'up') process.exitCode = await up();
else if (command === 'down') process.exitCode = await down();
else if (command === 'serve') await serve();
else {
  console.error('usage: main.js up | down | serve');
  process.exitCode = 2;
}
