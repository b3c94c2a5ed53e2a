"""Resolving "module:function" targets (cached per process)."""
import importlib

_cache = {}


def parse_target(target):
    if not isinstance(target, str) or target.count(":") != 1:
        raise ValueError('a Python endpoint target must look like "module:function", got %r' % (target,))
    module, attr = target.split(":")
    if not module or not attr:
        raise ValueError('a Python endpoint target must look like "module:function", got %r' % (target,))
    return module, attr


def resolve(target):
    """The callable named by `target`; raises ImportError/AttributeError/TypeError with a clear message."""
    fn = _cache.get(target)
    if fn is not None:
        return fn
    module_name, attr = parse_target(target)
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError("module %r has no attribute %r (target %r)" % (module_name, attr, target)) from None
    if not callable(obj):
        raise TypeError("target %r is not callable (it is a %s)" % (target, type(obj).__name__))
    _cache[target] = obj
    return obj
