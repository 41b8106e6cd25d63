"""Data file processors: ``data.validate`` (:mod:`chute.processors.builtin.data_validate`) and
``data.convert`` (:mod:`chute.processors.builtin.data_convert`). Importing this module registers
both; it stays cheap, since pyarrow and jsonschema are imported only when a step runs."""

from chute.processors.builtin.data_convert import ConvertOptions, convert
from chute.processors.builtin.data_validate import Column, ValidateOptions, validate

__all__ = ["Column", "ConvertOptions", "ValidateOptions", "convert", "validate"]
