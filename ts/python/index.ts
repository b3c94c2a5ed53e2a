/** Python endpoints: the public surface of ts/python/. */
export { PythonBridge, PYTHON_PACKAGE_DIR, type PythonBridgeOptions, type PythonEndpointOptions, type PythonBridgeStats } from './bridge.js';
export { PythonError, type PythonHead } from './stream.js';
