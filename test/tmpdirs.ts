// Temporary directories for tests, removed after each test file by
// test/cleanup.ts. A module of its own, with no import of sockprobe, so the
// cleanup that every file runs loads nothing of the library under test.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const tmpDirs: string[] = [];

/** A new directory under the system's temporary one, removed after the test file (test/cleanup.ts). */
export function tmpDir(prefix = 'sockprobe-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

/** Removes every directory tmpDir() made in this test file (jest's module registry is per file). */
export function removeTmpDirs(): void {
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}
