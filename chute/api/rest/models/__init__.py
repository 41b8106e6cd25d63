"""The JSON API's bodies as pydantic models, one module per part of the API.

The server builds its answers from service records with these models and documents
them in the OpenAPI document; the ``chute`` command parses the answers with the same
models. They import pydantic and core modules only (no catalog, no FastAPI), so the
command starts fast.
"""
