"""Command-line interface: one small module per command, each with ``register(subparsers)``."""
