"""Data file processors: ``data.validate`` (:mod:`chute.processors.builtin.data.validate`)
and ``data.convert`` (:mod:`chute.processors.builtin.data.convert`). Importing this package
registers both; it stays cheap, since pyarrow and jsonschema are imported only when a step
runs."""

from chute.processors.builtin.data.convert import convert
from chute.processors.builtin.data.options import Column, ConvertOptions, ValidateOptions
from chute.processors.builtin.data.validate import validate

__all__ = ["Column", "ConvertOptions", "ValidateOptions", "convert", "validate"]
