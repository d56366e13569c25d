"""Sequence models: (batch, time, features) + state -> (batch, time, hidden) + state. They know nothing of tasks."""
