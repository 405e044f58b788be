/**
 * Scripts for the demo and for `assistant-host emulator` without --scripts: enough to show
 * streaming, function calls, code_interpreter, file_search and interruption.
 */
import type { ScriptRule } from './script.js';

/** The scripts of `npm run demo` (weather, knowledge base, code, a long story); the CLI's emulator serves them by default. */
export function demoScripts(): ScriptRule[] {
  return [
    {
      message: /weather/i,
      script: {
        steps: [
          { text: 'Let me look that up. ' },
          {
            functionCalls: [
              { name: 'get_weather', arguments: { location: 'Paris', unit: 'celsius' } },
            ],
          },
          {
            text: (ctx) => {
              const output = ctx.toolOutputs[0]?.output ?? '{}';
              return `The weather service says: ${output}. Enjoy your day in Paris!`;
            },
          },
        ],
      },
    },
    {
      message: /knowledge|search/i,
      script: {
        steps: [
          {
            functionCalls: [
              { name: 'search_knowledge_base', arguments: { query: 'TypeScript', max_results: 2 } },
            ],
          },
          { text: (ctx) => `From the knowledge base: ${ctx.toolOutputs[0]?.output ?? 'nothing'}.` },
        ],
      },
    },
    {
      message: /analy[sz]e|code/i,
      script: {
        steps: [
          { codeInterpreter: { input: 'sum(range(10))', output: '45' } },
          {
            fileSearch: {
              query: 'style guide',
              results: [{ fileName: 'style.md', score: 0.82, text: 'Prefer const.' }],
            },
          },
          { text: 'The code sums 0..9 to 45, and the style guide says to prefer const.' },
        ],
      },
    },
    {
      message: /long/i,
      script: {
        tokenDelayMs: 60,
        steps: [
          {
            text: Array.from({ length: 120 }, (_, i) => `word${i + 1}`).join(' '),
          },
        ],
      },
    },
    {
      message: /typescript/i,
      script: {
        steps: [
          {
            text: 'TypeScript is JavaScript with syntax for types: it catches mistakes before your code runs and makes editors smarter.',
          },
        ],
      },
    },
  ];
}
