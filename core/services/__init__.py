"""Read services: the product's query layer, shared by the API, the dashboards and the packs.

Plain functions taking a SQLAlchemy ``Session`` (or ``Connection``) and parameters, returning
dataclasses holding pandas frames in display units (x the indicator's multiplier). They read
with a few set-based queries and compute with :mod:`core.stats`. Unknown indicators,
organisations, periods or groups raise :class:`core.errors.NotFound`; bad parameters raise
:class:`core.errors.InvalidParameter` naming the parameter. Services may ``flush()`` but never
``commit()``: the edge owns the transaction.

Modules
-------
``base``           lookups (indicator, organisation, period), peer sets, the values fetch
``organisations``  ``list_organisations``, ``organisation_detail``
``indicators``     ``list_indicators``, ``indicator_detail``
``comparison``     ``comparison``, ``funnel``, ``opportunity`` (one indicator, one period)
``spc``            ``spc`` (one organisation's series), ``latest_icons`` (many series)
``profile``        ``profile`` (every indicator for one organisation), ``triage`` (network)
``groups``         peer groups CRUD
``annotations``    chart annotations CRUD
``loads``          load history and one load with its rejected rows
``health``         freshness: last load, periods covered, what changed since the last load
Tokens and roles live in :mod:`core.auth`.
"""
