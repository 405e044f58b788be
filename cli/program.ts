/** `assistant-host`: its commands, and main(), which cli/index.ts runs. */
import { CommandError, helpText, parseCommandArgs, UsageError, type Command } from './kit.js';
import { boardCommand } from './commands/board.js';
import { demoCommand } from './commands/demo.js';
import { emulatorCommand } from './commands/emulator.js';
import { workerCommand } from './commands/worker.js';

const PROGRAM = 'assistant-host';
export const commands: Command[] = [demoCommand, emulatorCommand, workerCommand, boardCommand];

function mainHelp(): string {
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
    '',
    `Run '${PROGRAM} <command> --help' for a command's options.`,
  ].join('\n');
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name === undefined ? 1 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`${PROGRAM}: unknown command ${JSON.stringify(name)}\n\n${mainHelp()}`);
    return 2;
  }
  try {
    const values = parseCommandArgs(command, rest, env);
    if (values === 'help') {
      console.log(helpText(PROGRAM, command));
      return 0;
    }
    await command.run(values);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${PROGRAM} ${command.name}: ${error.message}`);
      return 2;
    }
    if (error instanceof CommandError) {
      console.error(`${PROGRAM} ${command.name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
