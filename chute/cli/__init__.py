"""The ``chute`` command line: the server's launcher and a client for its JSON API."""
