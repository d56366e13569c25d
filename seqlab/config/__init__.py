"""Config schemas and validation: everything is checked before anything heavy starts."""
