"""The ``zoo`` command line: parses, calls the :mod:`zoo` API, renders."""
