"""A project whose builds differ: each records when it ran."""
