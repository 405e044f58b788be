/**
 * No Docker engine runs here, so docker-compose.yml is checked against the code: every command,
 * flag, port and environment variable it names must exist in the CLI (or the example agent).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commands } from '../cli/program.js';

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

interface Service {
  build?: string;
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
}

const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;
/** Read by the OpenAI SDK, LiveKit Agents or the credentials check, not declared as CLI options. */
const READ_ELSEWHERE = new Set([
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'BOARD_USER',
  'BOARD_PASSWORD',
  'BOARD_TOKEN',
]);

describe('docker-compose.yml', () => {
  it('has redis, a scalable worker, the board and the example agent', () => {
    expect(Object.keys(services).sort()).toEqual(['agent', 'board', 'redis', 'worker']);
    // Scalable: no fixed container name and no published host port on the worker.
    expect(services.worker).not.toHaveProperty('container_name');
    expect(services.worker!.ports).toBeUndefined();
  });

  it("builds the package's image, whose entrypoint is the package's CLI", () => {
    const dockerfile = readFileSync(root('Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "dist\/cli\/index\.js"\]/);
    const manifest = JSON.parse(readFileSync(root('package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(manifest.bin['assistant-host']).toBe('./dist/cli/index.js');
    const build = JSON.parse(readFileSync(root('tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    expect(build.include).toEqual(expect.arrayContaining(['cli', 'queues', 'examples']));
    expect(existsSync(root('cli/index.ts'))).toBe(true);
  });

  for (const [name, service] of Object.entries(services)) {
    if (service.build === undefined || service.entrypoint) continue;
    it(`${name}: its command, flags and environment exist in assistant-host`, () => {
      const [sub, ...args] = service.command ?? [];
      const command = commands.find((c) => c.name === sub);
      expect(command, `assistant-host has no command ${sub}`).toBeDefined();
      const flags = args.filter((a) => a.startsWith('--')).map((a) => a.slice(2));
      for (const flag of flags) expect(Object.keys(command!.options)).toContain(flag);
      const envs = new Set(Object.values(command!.options).flatMap((o) => (o.env ? [o.env] : [])));
      for (const variable of Object.keys(service.environment ?? {})) {
        expect(
          envs.has(variable) || READ_ELSEWHERE.has(variable),
          `${name} sets ${variable}, which nothing reads`,
        ).toBe(true);
      }
      // A published port is the one the command listens on.
      for (const mapping of service.ports ?? []) {
        const container = mapping.split(':').at(-1);
        const portFlag = args[args.indexOf('--port') + 1];
        expect(container).toBe(portFlag ?? String(command!.options.port?.default));
      }
    });
  }

  it('worker: its health check and HTTP port match the worker flags', () => {
    const worker = services.worker!;
    const port = worker.command![worker.command!.indexOf('--http-port') + 1];
    expect(JSON.stringify((worker as { healthcheck?: unknown }).healthcheck)).toContain(
      `127.0.0.1:${port}/readyz`,
    );
  });

  it('agent: runs the built example, whose settings come from the variables it is given', () => {
    const agent = services.agent!;
    expect(agent.entrypoint).toEqual(['node', 'dist/examples/agent.js', 'start']);
    const source = readFileSync(root('examples/agent.ts'), 'utf8');
    for (const variable of Object.keys(agent.environment ?? {})) {
      // LiveKit Agents reads the LIVEKIT_* variables itself; OPENAI_MODEL is read by AssistantLLM.
      const readByExample = source.includes(`process.env.${variable}`);
      const readByFramework = /^LIVEKIT_/.test(variable) || variable === 'OPENAI_MODEL';
      expect(readByExample || readByFramework, `agent sets ${variable}, which nothing reads`).toBe(
        true,
      );
    }
    expect(source).toContain('cli.runApp(new ServerOptions(');
  });
});
