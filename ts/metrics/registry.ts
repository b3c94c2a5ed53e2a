/**
 * One private prom-client Registry per app, holding every catzilla collector
 * (collectors.ts), whose metrics read the native counters at scrape time (scrape.ts).
 */
import type { Registry } from 'prom-client';
import type { App } from '../app.js';
import { registerCollectors } from './collectors.js';
import { routeMetrics } from './routes.js';
import { promClient } from './prom.js';
import { ScrapeSource } from './scrape.js';

const registries = new WeakMap<App, Registry>();

/**
 * The app's private Registry (created on first use, with every catzilla collector).
 * Add your own metrics to it, or merge it with others (`Registry.merge`).
 */
export function metricsRegistry(app: App): Registry {
  let registry = registries.get(app);
  if (registry === undefined) {
    registry = new (promClient().Registry)();
    registerCollectors(registry, new ScrapeSource(app, routeMetrics(app)));
    registries.set(app, registry);
  }
  return registry;
}
