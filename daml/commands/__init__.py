"""One module per `daml` subcommand: `add_arguments(parser)` and `run(args) -> int`."""
