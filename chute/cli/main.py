"""The ``chute`` command: run the server, and work with buckets, objects, events and
functions from a shell through the JSON API (``chute put``, ``chute ls``, ``chute events
--follow``, ``chute functions invoke``, ``chute logs NAME --follow``).

Human output goes to stdout as tables and lines; ``--json`` prints one JSON document
instead. Server errors print ``error: CODE: message`` to stderr and exit 1; a malformed
argument is a usage error (exit 2).

The commands live in :mod:`chute.cli.commands`, one module per area; this module makes
the app, its ``--url`` option, and registers them.
"""

from __future__ import annotations

import typer

from chute.cli.commands import (
    buckets,
    events,
    functions,
    keys,
    listings,
    objects,
    processing,
    server,
)
from chute.cli.connection import (
    DEFAULT_REGION,
    DEFAULT_URL,
    AccessKeyOption,
    CaBundleOption,
    Connection,
    ProfileOption,
    RegionOption,
    SecretKeyOption,
    ServerUrl,
)

app = typer.Typer(
    name="chute",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    url: ServerUrl = DEFAULT_URL,
    access_key: AccessKeyOption = None,
    secret_key: SecretKeyOption = None,
    profile: ProfileOption = None,
    region: RegionOption = DEFAULT_REGION,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Chute: a self-hosted object store with an event log.

    Requests are signed with an access key, the first found of: --access-key and
    --secret-key; CHUTE_ACCESS_KEY and CHUTE_SECRET_KEY; --profile (CHUTE_PROFILE) in the
    AWS credentials file; for a server on this machine, the root key in its data folder
    (root-credentials).
    """
    ctx.obj = Connection(url, access_key, secret_key, profile, region, ca_bundle)


#: Every command, in the order ``chute --help`` lists them.
COMMANDS = (
    server.serve,
    server.worker,
    buckets.mb,
    buckets.rb,
    buckets.versioning,
    objects.put,
    objects.get,
    objects.rm,
    objects.stat,
    listings.ls,
    events.events,
    processing.status,
    processing.jobs,
    processing.dead,
    processing.redrive,
    processing.reprocess,
    processing.find,
    processing.pipelines,
    functions.logs,
)
for command in COMMANDS:
    app.command()(command)
app.add_typer(keys.app)
app.add_typer(functions.app)
