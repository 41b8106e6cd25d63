"""Data file processors: ``data.validate`` (:mod:`chute.processors.builtin.data.validate`),
``data.convert`` (:mod:`chute.processors.builtin.data.convert`), and ``data.split`` and
``data.join`` (:mod:`chute.processors.builtin.data.split`,
:mod:`chute.processors.builtin.data.join`), which cut a file into chunks for a Map step and
put the Map's results back together. Importing this package registers them all; it stays
cheap, since pyarrow and jsonschema are imported only when a step runs."""

from chute.processors.builtin.data.convert import convert
from chute.processors.builtin.data.join import join
from chute.processors.builtin.data.options import (
    Column,
    ConvertOptions,
    JoinOptions,
    SplitOptions,
    ValidateOptions,
)
from chute.processors.builtin.data.split import split
from chute.processors.builtin.data.validate import validate

__all__ = [
    "Column",
    "ConvertOptions",
    "JoinOptions",
    "SplitOptions",
    "ValidateOptions",
    "convert",
    "join",
    "split",
    "validate",
]
