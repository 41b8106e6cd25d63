"""The object service (``chute.objects.service``): buckets, objects, versions, listings
and their events."""
