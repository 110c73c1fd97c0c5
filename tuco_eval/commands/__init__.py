"""Subcommand modules; importing this package registers every `tuco-eval` subcommand."""
