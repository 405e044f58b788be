/**
 * vitest globalSetup of the `cluster` projects: starts the local Redis Cluster
 * (scripts/redis-cluster.sh: 3 primaries + 3 replicas on 127.0.0.1:7000-7005) unless one is
 * running, and stops it afterwards if it started it. .ci/run starts it first; then it is left to
 * .ci/run to stop.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url));

export default function setup(): (() => void) | undefined {
  const said = execFileSync('bash', [script, 'start'], { encoding: 'utf8' }).trim();
  if (said !== 'started') return undefined;
  return () => {
    execFileSync('bash', [script, 'stop']);
  };
}
