"""Reason codes of the operator server (:mod:`quant_apps.serve`), registered once.

Every refusal the server adds on top of the runtime's own (those travel unchanged) carries one
of these codes in its JSON body ``{"ok": false, "reason_code", "message"}``.

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> from quant_apps.serve import reasons
    >>> reasons.CSRF_REFUSED in REGISTRY
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

AUTH_REQUIRED = "A request to the operator server carried no token (bearer header or cookie)."
AUTH_INVALID = "A request to the operator server carried a token that is not the server's."
LOGIN_CODE_INVALID = "A one-time login code is unknown, already used or expired."
CSRF_REFUSED = (
    "A state-changing request came from a foreign origin, or a cookie-authenticated one "
    "lacked the CSRF token."
)
BODY_TOO_LARGE = "A request body is larger than the operator server accepts."
ROUTE_NOT_FOUND = "No operator-server route answers that path (or that method)."
REMOTE_BIND_REFUSED = (
    "The operator server was asked to listen on a non-loopback address without --allow-remote."
)
TOKEN_FILE_INSECURE = (
    "The operator token file is readable or writable by others, or is not a token file."
)
OPERATOR_NAME_INVALID = "An operator name is empty, too long or holds control characters."

declare_codes(globals())
