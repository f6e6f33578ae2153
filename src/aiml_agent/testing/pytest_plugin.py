"""pytest plugin (registered through the ``pytest11`` entry point): safe cassette defaults for agent tests."""
