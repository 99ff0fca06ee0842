"""Subcommands of the `hepinfer` command line, one module each (see `hepinfer.cli`)."""
