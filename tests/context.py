"""The request context tests call the object service with."""

from chute.context import RequestContext

#: Who asks, in tests that call services directly.
CTX = RequestContext(principal="tester", source_ip="127.0.0.1")
