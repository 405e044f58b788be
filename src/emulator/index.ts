export { EmulatorServer } from './server.js';
export type { EmulatorOptions, RecordedRequest } from './server.js';
export type { CapturedEvent, Protocol } from './context.js';
export type { SseEvent } from './http.js';
export type {
  Script,
  ScriptContext,
  ScriptRule,
  ScriptStep,
  ScriptedFunctionCall,
  TextSource,
} from './script.js';
export { parseScriptRules } from './script.js';
export { demoScripts } from './demo-scripts.js';
