/** The OpenAI key tests and benchmarks give the emulator and the workers they start (never a real one). */
export const TEST_API_KEY = 'sk-test-emulator-key-0123456789';
