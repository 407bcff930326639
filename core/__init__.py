"""qidash core: settings, database, models, periods, statistics and read services.

Nothing in ``core`` imports the edges (``etl``, ``api``, ``dashboards``, ``exports``).
"""
