"""The operator server: a local control API (and the UI's routes) over a running session.

``quant serve`` composes it: the runtime's :class:`~quant_apps.runtime.operator.service.Service`
runs the session on its own thread and this package serves its
:class:`~quant_apps.runtime.operator.control.ControlPlane` over HTTP on 127.0.0.1. Modules:

* :mod:`~quant_apps.serve.app` — :func:`create_app`: routes, error shape, middleware;
* :mod:`~quant_apps.serve.api` — ``/api/v1``: one route per control-plane method;
* :mod:`~quant_apps.serve.push` — ``/api/v1/events``: server-sent events;
* :mod:`~quant_apps.serve.security` — :class:`Auth` (token file, login codes, CSRF), the
  ``current_operator`` and ``csrf_protect`` dependencies, body limit and security headers;
* :mod:`~quant_apps.serve.server` — binding (loopback unless allowed) and uvicorn;
* :mod:`~quant_apps.serve.reasons` — the server's reason codes;
* ``ui``, ``templates/``, ``static/`` — the web UI (pages and fragments).

It never imports the CLI (typer, click, rich): an import contract checks it.
"""

from quant_apps.serve.app import API_PREFIX, create_app
from quant_apps.serve.security import Auth, csrf_protect, current_operator
from quant_apps.serve.server import Server, bind, check_bind, origin_for

__all__ = [
    "API_PREFIX",
    "Auth",
    "Server",
    "bind",
    "check_bind",
    "create_app",
    "csrf_protect",
    "current_operator",
    "origin_for",
]
