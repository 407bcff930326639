"""qidash: the process entry points (CLI, and the app that mounts the API and the dashboards)."""

__version__ = "0.1.0"
