"""Thin command-line entry points: ``qkspike <command>`` (see ``qkspike --help``)."""
