"""The operator's side of a running session: control plane, push events, index, service.

:mod:`.control` (:class:`ControlPlane`: reads and governed changes with their outcomes),
:mod:`.controlreasons` (its reason codes), :mod:`.events` (the push hub),
:mod:`.decisionindex` (the decision log's SQLite index), :mod:`.coverage` (data coverage and
audit verification) and :mod:`.service` (the composition behind ``quant serve``).
"""
