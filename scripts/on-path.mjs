/** Whether an executable named `cmd` is on PATH (shared by the build and set-up scripts). */
import fs from 'node:fs';
import path from 'node:path';

export function onPath(cmd) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
