"""The ``chute`` commands, one module per area; :mod:`chute.cli.main` registers them on
the app in the order ``chute --help`` lists them."""
