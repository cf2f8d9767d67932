"""Make the cross-service fixtures (tests.fixtures.py) available to every suite."""

pytest_plugins = ["tests.fixtures"]
