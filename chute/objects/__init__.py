"""The object service: buckets, objects, versions, listings and their events."""

from chute.objects.service import ObjectService, RequestContext

__all__ = ["ObjectService", "RequestContext"]
