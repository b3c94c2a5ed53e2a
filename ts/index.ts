/**
 * catzilla: a TypeScript web framework over a native HTTP/1.1 core.
 * This module is the public surface; everything else is internal.
 */
export { App, type AppOptions, type ListenOptions, type CloseOptions } from './app.js';
export type { Handler, Logger } from './dispatch.js';
export type { Middleware, Next } from './middleware.js';
export { Request, type RequestHeaders } from './request.js';
export type { Params } from './router.js';
export {
  HttpResponse,
  text,
  json,
  html,
  status,
  redirect,
  type ResponseBody,
  type ResponseLike,
  type HttpResponseInit,
} from './response.js';
export { ResponseHeaders, type HeadersInit, type HeaderValue } from './headers.js';
export { HttpError, CoreError, type HttpErrorOptions } from './errors.js';
export { reasonPhrase } from './status.js';
export type { NativeAddress as AddressInfo, NativeServerStats as ServerStats } from './native.js';
