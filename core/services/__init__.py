"""Services: the product's query layer, shared by the API, the dashboards and the packs, with
the small writes that go beside the reads (groups, annotations, actions, rebases, alerts,
subscriptions).

Plain functions taking a SQLAlchemy ``Session`` (or ``Connection``) and parameters, returning
dataclasses holding pandas frames in display units (x the indicator's multiplier). They read
with a few set-based queries and compute with :mod:`core.stats`. Unknown indicators,
organisations, periods or groups raise :class:`core.errors.NotFound`; bad parameters raise
:class:`core.errors.InvalidParameter` naming the parameter. Services may ``flush()`` but never
``commit()``: the edge owns the transaction. The one exception is
:func:`core.services.digests.send_pending`, which takes an ``Engine`` and commits each digest's
outcome on its own, after the load that queued it has committed.

Modules
-------
``query``          ``Conn`` (a session or connection), driver-level fetches, rows to frames
``indicators``     ``get_indicator``/``IndicatorMeta`` (lookup), ``list_indicators``,
                   ``indicator_detail``
``data_periods``   ``PeriodRef``, ``periods_with_data``, ``resolve_period`` (the periods with
                   data; parsing labels is :mod:`core.periods`)
``organisations``  ``get_org``/``OrgRef``, the hierarchy (``ancestors``, ``descendant_ids``),
                   ``org_directory``, ``list_organisations``, ``organisation_detail``
``peers``          ``PeerSet``, ``parse_peer_spec``, ``resolve_peers``, ``similar_orgs``
``values``         the values fetch of one indicator and period (``fetch_value_columns``,
                   ``fetch_values``) and ``with_intervals``
``comparison``     ``comparison``, ``funnel``, ``opportunity`` (one indicator, one period)
``spc``            ``spc`` (one organisation's series), ``latest_icons`` (many series)
``profile``        ``profile`` (every indicator for one organisation), ``triage`` (network)
``groups``         peer groups CRUD
``annotations``    chart annotations CRUD
``actions``        improvement actions CRUD and their effect on the SPC chart (``action_effect``)
``rebases``        accepted rebases of SPC charts (accept, list, withdraw); ``spc`` applies them
``alerts``         the alerts a values load raises (``raise_load_alerts``), their noise rules,
                   ``list_alerts``
``digests``        alert subscriptions, the digest each load queues (``queue_digests``) and
                   sending them (``send_pending``)
``loads``          load history, one load with its rejected rows, and ``freshness`` (last load,
                   periods covered, what the last values load changed)
``counts``         each indicator's values and organisations, kept by loads and reverts
                   (``apply_value_changes``, ``rebuild_counts``, ``value_counts``)
``disclosure``     disclosure control of what the read services return (``disclosed``)
``version``        the data version (``data_version``) and the caches keyed by it
``warm``           the warmer of the profile's peer summaries each serving process runs
                   (``PeerWarmer``, ``warm_peer_summaries``, ``warm_status``)
Tokens and roles live in :mod:`core.auth`.
"""
