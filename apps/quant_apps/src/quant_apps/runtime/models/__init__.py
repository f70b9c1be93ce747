"""The one way a model is served, and how releases are made and managed.

:mod:`.bundles` and :mod:`.activation` (verify → install → load the active bundle →
predictor), :mod:`.bundledesk` (status, updates and rollback for the CLI and the control
plane), :mod:`.releases` (signed releases) and :mod:`.training` (training runs).
"""
