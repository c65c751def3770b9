import { describe, expect, test } from '@jest/globals';
import { expandVariables, processSpec, rewriteListenAddress, rewritePath, UnrunnableContainer } from './container-command.js';
import { defaultIsFlotillaImage } from './process-kubelet.js';

const mounts = [
  { mountPath: '/etc/flotilla/tls', hostPath: '/tmp/pod/volumes/tls' },
  { mountPath: '/etc/flotilla', hostPath: '/tmp/pod/volumes/config' },
  { mountPath: '/data/', hostPath: '/tmp/claims/ns/records' },
];

describe('a container mapped onto a local process', () => {
  test('$(VAR) expands as the kubelet does: known names only, $$ escapes', () => {
    const env = { NS: 'research', POD_IP: '127.1.2.3' };
    expect(expandVariables('--namespace=$(NS)', env)).toBe('--namespace=research');
    expect(expandVariables('$(UNKNOWN)/$(NS)', env)).toBe('$(UNKNOWN)/research');
    expect(expandVariables('$$(NS)', env)).toBe('$(NS)');
  });

  test('paths under a mount, alone or as a --flag= value, go to the volume folder; the deepest mount wins', () => {
    expect(rewritePath('/etc/flotilla/tls', mounts)).toBe('/tmp/pod/volumes/tls');
    expect(rewritePath('--tls-dir=/etc/flotilla/tls/', mounts)).toBe('--tls-dir=/tmp/pod/volumes/tls');
    expect(rewritePath('--job=/etc/flotilla/job.json', mounts)).toBe('--job=/tmp/pod/volumes/config/job.json');
    expect(rewritePath('/data/heart.csv', mounts)).toBe('/tmp/claims/ns/records/heart.csv');
    expect(rewritePath('/etc/flotillax', mounts)).toBe('/etc/flotillax');
    expect(rewritePath('--rounds=3', mounts)).toBe('--rounds=3');
  });

  test('listening on every interface becomes listening on the pod IP', () => {
    expect(rewriteListenAddress('--listen=0.0.0.0:8443', '127.9.9.2')).toBe('--listen=127.9.9.2:8443');
    expect(rewriteListenAddress('[::]:9090', '127.9.9.2')).toBe('127.9.9.2:9090');
    expect(rewriteListenAddress('--aggregator=10.0.0.1:8443', '127.9.9.2')).toBe('--aggregator=10.0.0.1:8443');
  });

  test('the Flotilla image runs this checkout; any other image is refused', () => {
    const ctx = {
      isFlotillaImage: defaultIsFlotillaImage,
      flotilla: ['/usr/bin/node', '/src/dist/operator/cli/main.js'],
      env: { NS: 'research', CONFIG: '/etc/flotilla/job.json' },
      mounts,
      podIP: '127.9.9.2',
      defaultCwd: '/tmp/pod',
    };
    const spec = processSpec(
      { name: 'c', image: 'ghcr.io/x/flotilla:1.0', command: ['flotilla', 'aggregator'], args: ['--namespace=$(NS)', '--listen=0.0.0.0:8443', '--tls-dir=/etc/flotilla/tls'] },
      ctx,
    );
    expect(spec).toEqual({
      executable: '/usr/bin/node',
      args: ['/src/dist/operator/cli/main.js', 'aggregator', '--namespace=research', '--listen=127.9.9.2:8443', '--tls-dir=/tmp/pod/volumes/tls'],
      env: { NS: 'research', CONFIG: '/tmp/pod/volumes/config/job.json' },
      cwd: '/tmp/pod',
    });
    expect(processSpec({ name: 'c', image: 'flotilla', args: ['version'] }, ctx).args).toEqual(['/src/dist/operator/cli/main.js', 'version']);
    expect(() => processSpec({ name: 'c', image: 'nginx:1.27' }, ctx)).toThrow(UnrunnableContainer);
    expect(() => processSpec({ name: 'c', image: 'flotilla:1', command: ['sh', '-c', 'x'] }, ctx)).toThrow(/must start with flotilla/);
    expect(defaultIsFlotillaImage('registry:5000/team/flotilla@sha256:abc')).toBe(true);
    expect(defaultIsFlotillaImage('registry:5000/flotilla-trainer:1')).toBe(false);
  });
});
