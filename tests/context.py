"""The request context tests call the object service with."""

from chute.access import EVERYTHING
from chute.context import RequestContext

#: Who asks, in tests that call services directly: allowed everything.
CTX = RequestContext(principal="tester", source_ip="127.0.0.1", permissions=EVERYTHING)
