/**
 * The monitoring tools the tests run, built from their Go modules by
 * test/support/envtest/install-tools.sh (a no-op once cached): prometheus and promtool (group
 * `prometheus`), and dashboard-check (group `dashboard-check`). $FLOTILLA_PROMETHEUS_BIN and
 * $FLOTILLA_DASHBOARD_CHECK_BIN name a bin directory to use instead.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../../operator/api/crds.js';

const execFileAsync = promisify(execFile);

type Group = 'prometheus' | 'dashboard-check';
const OVERRIDE: Record<Group, string> = { prometheus: 'FLOTILLA_PROMETHEUS_BIN', 'dashboard-check': 'FLOTILLA_DASHBOARD_CHECK_BIN' };
const dirs = new Map<Group, Promise<string>>();

function binDir(group: Group): Promise<string> {
  let dir = dirs.get(group);
  if (!dir) {
    const override = process.env[OVERRIDE[group]];
    dir = override
      ? Promise.resolve(override)
      : execFileAsync('bash', [path.join(packageRoot, 'test/support/envtest/install-tools.sh'), group], { maxBuffer: 1 << 20 }).then(
          ({ stdout }) => stdout.trim().split('\n').pop()!,
        );
    dirs.set(group, dir);
  }
  return dir;
}

export const prometheusBinary = async () => path.join(await binDir('prometheus'), 'prometheus');
export const promtoolBinary = async () => path.join(await binDir('prometheus'), 'promtool');
export const dashboardCheckBinary = async () => path.join(await binDir('dashboard-check'), 'dashboard-check');
