/**
 * Observability handlers need their app (its native counters, its routes). They learn it
 * when mounted (`app.get(path, handler)` calls the handler's MOUNT hook), or from an
 * explicit `app` option when they are called some other way. One handler serves one app.
 */
import { MOUNT, type App, type Mountable } from '../app.js';
import { CoreError } from '../errors.js';
import type { Handler } from '../pipeline.js';
import type { Request } from '../request.js';
import type { ResponseLike } from '../response.js';
import { routeMetrics } from './routes.js';

export type AppHandler = Handler & Mountable;

export function appHandler(
  what: string,
  given: App | undefined,
  serve: (app: App, req: Request) => ResponseLike | Promise<ResponseLike>,
  mounted?: (app: App, method: string, path: string) => void,
): AppHandler {
  let app: App | undefined = given;
  if (app !== undefined) routeMetrics(app); // count from now on, not from the first scrape
  const handler = ((req: Request) => {
    if (app === undefined) throw new CoreError('ENOTMOUNTED', `${what} handler was never mounted with app.get(path, handler); pass { app } to use it elsewhere`);
    return serve(app, req);
  }) as AppHandler;
  handler[MOUNT] = (target: App, method: string, path: string) => {
    if (app !== undefined && app !== target) throw new TypeError(`${what} handler already serves another App; create one per app`);
    app = target;
    routeMetrics(target);
    mounted?.(target, method, path);
  };
  return handler;
}
