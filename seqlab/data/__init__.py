"""Finding data files: the data directory, a user's explicit path, or a checked download."""
