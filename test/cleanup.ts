// Runs in every test file (jest's setupFilesAfterEnv): the directories that
// tmpDir() made in the file are removed once its tests are done. This hook is
// the file's first root-level afterAll, so it runs after the afterAll hooks
// inside describe blocks and before the file's own root-level ones: nothing
// there may need files in such a directory to stop a server.
import { removeTmpDirs } from './tmpdirs';

afterAll(removeTmpDirs);
