"""Listing endpoints of the client: objects, versions and the event log, a page at a
time, and walks that follow a listing's markers to its last page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from chute.api.rest.models.events import EventPage
from chute.api.rest.models.objects import ObjectList, VersionList
from chute.cli.client.transport import Transport, bucket_path, present

Page = TypeVar("Page")
Marker = TypeVar("Marker")
#: Where a version listing goes on: the next key marker and version id marker.
VersionMarkers = tuple[str, str | None]


class ListingEndpoints(Transport):
    """Paged listings of a bucket's objects and versions, and of the event log."""

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        continuation_token: str | None = None,
        max_keys: int | None = None,
    ) -> ObjectList:
        """One page of latest versions; see :meth:`walk_objects` for all of them."""
        params = present(
            prefix=prefix,
            delimiter=delimiter,
            start_after=start_after,
            continuation_token=continuation_token,
            max_keys=max_keys,
        )
        return self._json(ObjectList, "GET", bucket_path(bucket) + "/objects", params=params)

    def walk_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        max_keys: int | None = None,
    ) -> Iterator[ObjectList]:
        """Every page of a listing, following continuation tokens to the end."""

        def page(token: str | None) -> ObjectList:
            return self.list_objects(
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                continuation_token=token,
                max_keys=max_keys,
            )

        return _walk(page, _next_token)

    def list_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        key_marker: str | None = None,
        version_id_marker: str | None = None,
        max_keys: int | None = None,
    ) -> VersionList:
        """One page of versions and delete markers; see :meth:`walk_versions`."""
        params = present(
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            version_id_marker=version_id_marker,
            max_keys=max_keys,
        )
        return self._json(VersionList, "GET", bucket_path(bucket) + "/versions", params=params)

    def walk_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        max_keys: int | None = None,
    ) -> Iterator[VersionList]:
        """Every page of a version listing, following the markers to the end."""

        def page(markers: VersionMarkers | None) -> VersionList:
            key_marker, version_marker = markers or (None, None)
            return self.list_versions(
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                version_id_marker=version_marker,
                max_keys=max_keys,
            )

        return _walk(page, _next_markers)

    def events(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        bucket: str | None = None,
        key: str | None = None,
    ) -> EventPage:
        """Events after the cursor ``after``, oldest first, with the ``next_cursor``."""
        params = present(after=after, limit=limit, bucket=bucket, key=key)
        return self._json(EventPage, "GET", "/events", params=params)


def _walk(
    page: Callable[[Marker | None], Page], next_marker: Callable[[Page], Marker | None]
) -> Iterator[Page]:
    """Pages asked for one after another, each from where the one before ended, until one
    has no ``next_marker``: the last."""
    marker: Marker | None = None
    while True:
        answer = page(marker)
        yield answer
        marker = next_marker(answer)
        if marker is None:
            return


def _next_token(page: ObjectList) -> str | None:
    """Where an object listing goes on, or ``None`` after its last page."""
    if page.is_truncated and page.next_continuation_token:
        return page.next_continuation_token
    return None


def _next_markers(page: VersionList) -> VersionMarkers | None:
    """Where a version listing goes on, or ``None`` after its last page."""
    if page.is_truncated and page.next_key_marker:
        return page.next_key_marker, page.next_version_id_marker
    return None
