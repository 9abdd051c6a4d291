/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] },
  testTimeout: 30000,
  // Removes the temporary directories the file's tests made (test/cleanup.ts).
  setupFilesAfterEnv: ['<rootDir>/test/cleanup.ts'],
  // The default reporters, then a list of the tests skipped for a missing precondition (test/preconditions.ts).
  reporters: ['default', '<rootDir>/test/skip-reporter.js'],
};
