"""Path patterns both front ends route on.

An object key may hold any character S3 allows, newlines and carriage returns included.
Starlette's ``path`` convertor (``.*``) stops at a newline, so a route written with it
answers such a key 404. Routes write the key as ``{key:key}`` instead.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

#: The convertor's name, as in ``/buckets/{bucket}/objects/{key:key}``.
KEY = "key"


class KeyConvertor(Convertor[str]):
    """The rest of the path, whatever characters it holds (handlers decode the key from
    the raw path themselves, so this only has to match)."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor(KEY, KeyConvertor())
