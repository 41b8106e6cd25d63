"""The built-in processors, one module (or package) per family, each registering its
processors with :func:`~chute.processors.registry.processor` when imported.

The registry imports them (:data:`~chute.processors.registry.BUILTIN_MODULES`) the first
time a processor name is looked up. Like any plug-in they use the SDK
(:mod:`chute.processors.base`, :mod:`chute.processors.registry`) and core modules only,
and import their heavy libraries (pyvips, pyarrow, jsonschema...) when a step runs.
"""
