/**
 * Start an App on 127.0.0.1:0 for one test and always close it afterwards.
 * The logger is captured (not printed) so tests can assert on logged errors.
 */
import { App } from '../../ts/index.js';
import { within } from './raw-client.js';

export type AppOptions = NonNullable<ConstructorParameters<typeof App>[0]>;

export interface AppContext {
  app: App;
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Arguments of every logger.error call. */
  logged: unknown[][];
  /** Close the app now (withApp then skips its own close). */
  close(timeout?: number): Promise<void>;
}

export async function startApp(setup: (app: App) => void | Promise<void>, options: AppOptions = {} as AppOptions): Promise<AppContext> {
  const logged: unknown[][] = [];
  const app = new App({ logger: { error: (...args: unknown[]) => logged.push(args) }, ...options } as AppOptions);
  await setup(app);
  const addr = await app.listen({ port: 0, host: '127.0.0.1' });
  let closing: Promise<void> | undefined;
  return {
    app,
    port: addr.port,
    base: `http://127.0.0.1:${addr.port}`,
    logged,
    close(timeout = 1000) {
      closing ??= within(Promise.resolve(app.close({ timeout })), timeout + 5000, 'app.close()');
      return closing;
    },
  };
}

export async function withApp<T>(
  setup: (app: App) => void | Promise<void>,
  fn: (ctx: AppContext) => Promise<T>,
  options?: AppOptions,
): Promise<T> {
  const ctx = await startApp(setup, options);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

export { App };
