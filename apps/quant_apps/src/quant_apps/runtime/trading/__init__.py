"""One trading session: the runtime, its commands, read model, feed, profiles and log files.

:mod:`.session` (:class:`TradingRuntime`), :mod:`.commands` (queued commands and their
tickets), :mod:`.readmodel` and :mod:`.views` (the published read model), :mod:`.feed` (the
market-data seam), :mod:`.profiles` (governed profiles), :mod:`.paperlog` (the paper session's
files) and :mod:`.paper` (opening a paper session from its options).
"""
