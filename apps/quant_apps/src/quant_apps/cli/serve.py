"""``quant serve``: a paper session plus its local control API and web UI, in one process.

``quant serve`` starts the runtime's :class:`~quant_apps.runtime.operator.service.Service`
(paper mode: the shipped bundle on the provider emulator's replay of a synthetic market, or
``--source`` files, or a live provider) on its own thread, and the operator server
(:mod:`quant_apps.serve`) on 127.0.0.1 in the main thread. It prints the URL with a one-time
login code (never the token) and the token file's path; with ``--json`` one JSON line (``url``,
``login_url``, ``port``, ``token_file``, ``out``, ``operator``).

Security: the token is made on first start and kept in ``--token-file`` (default
``OUT/serve.token``, mode 0600); programs send it as ``Authorization: Bearer``. Any
non-loopback ``--host`` needs ``--allow-remote``. Ctrl-C or SIGTERM shuts the server down,
then stops the session (the decision log and open paper orders are flushed) and exits 0.
"""

from __future__ import annotations

import getpass
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from quant_apps.cli.output import guarded, human, results
from quant_apps.runtime import config as app_config
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.operator.service import ServeOptions, open_service
from quant_apps.serve import Auth, Server, bind, check_bind, create_app, origin_for, ui
from quant_apps.serve.app import LOOPBACK_HOSTS
from quant_apps.serve.server import is_loopback
from quant_core import Timeframe
from quant_core import reasons as core_reasons
from quant_core.errors import QuantUsageError

__all__ = ["TOKEN_FILE", "register"]

TOKEN_FILE = "serve.token"
"""The token file inside ``--out`` (unless ``--token-file``)."""
PROVIDERS = ("emulator", "kraken", "coinapi")


def _usage(message: str) -> QuantUsageError:
    return QuantUsageError(message, reason_code=core_reasons.USAGE_ERROR)


def _line(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    @guarded()
    def serve(
        out: Annotated[
            Path, typer.Option("--out", help="Directory of the session's logs and token.")
        ] = Path("quant-serve"),
        provider: Annotated[
            str, typer.Option("--provider", help="emulator, kraken or coinapi.")
        ] = "emulator",
        source: Annotated[
            list[Path] | None,
            typer.Option("--source", help="Emulator data file or directory (repeatable)."),
        ] = None,
        symbols: Annotated[
            str, typer.Option("--symbols", help="Comma-separated base assets.")
        ] = "BTC,ETH,SOL",
        quote: Annotated[str, typer.Option("--quote", help="Quote currency.")] = "USD",
        timeframe: Annotated[str, typer.Option("--timeframe", help="Bar length.")] = "1h",
        speed: Annotated[
            float | None,
            typer.Option("--speed", min=0.001, help="Emulator replay speed (default 600)."),
        ] = None,
        start: Annotated[
            str | None, typer.Option("--start", help="Emulator replay start (ISO-8601).")
        ] = None,
        bundle: Annotated[
            Path | None, typer.Option("--bundle", help="A signed bundle release.")
        ] = None,
        keys: Annotated[Path | None, typer.Option("--keys", help="Trusted public keys.")] = None,
        update_source: Annotated[
            str | None, typer.Option("--update-source", help="Where bundle updates come from.")
        ] = None,
        profile: Annotated[
            Path | None, typer.Option("--profile", help="Governed profile file (JSON/TOML).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Market, broker and retry seed.")] = 0,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Store URL (default: settings).")
        ] = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[
            int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")
        ] = 8765,
        operator: Annotated[
            str | None,
            typer.Option("--operator", help="Who changes are attributed to (default: OS user)."),
        ] = None,
        allow_remote: Annotated[
            bool,
            typer.Option("--allow-remote", help="Allow a non-loopback --host (token required)."),
        ] = False,
        token_file: Annotated[
            Path | None, typer.Option("--token-file", help="Token file (default: OUT/serve.token).")
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print one JSON line on stdout.")
        ] = False,
    ) -> None:
        """Run a paper session with its control API and web UI until Ctrl-C or SIGTERM."""
        check_bind(host, allow_remote=allow_remote)
        name = provider.strip().lower()
        if name not in PROVIDERS:
            raise _usage(f"unknown provider {provider!r} (emulator, kraken or coinapi)")
        try:
            tf = Timeframe(timeframe)
        except ValueError:
            raise _usage(f"unknown timeframe {timeframe!r}") from None
        options = ServeOptions(
            out=out,
            provider=name,
            source=tuple(source or ()),
            symbols=tuple(app_config.symbol_list(symbols)),
            quote=quote.upper(),
            timeframe=tf,
            speed=speed,
            start=start,
            bundle=bundle,
            keys=keys,
            update_source=update_source,
            profile=profile,
            seed=seed,
            database_url=database_url,
        )
        wall = WallClock()
        auth = Auth.load_or_create(
            token_file or out / TOKEN_FILE,
            operator=operator,
            clock=wall,
            default_operator=getpass.getuser(),
        )
        sock = bind(host, port)
        bound = int(sock.getsockname()[1])
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        origin = origin_for(shown, bound)
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        service = None
        try:
            service = open_service(options, wall=wall)
            app = create_app(
                service.control,
                auth,
                origin=origin,
                routers=[ui.router],
                hosts=LOOPBACK_HOSTS if is_loopback(host) else ("*",),
            )
            server = Server(app, sock)
            service.start()
            document = {
                "ok": True,
                "url": f"{origin}/",
                "login_url": f"{origin}/login?code={auth.new_login_code()}",
                "port": bound,
                "token_file": str(auth.path),
                "out": str(out),
                "operator": auth.operator,
            }
            if json_output:
                _line(document)
            else:
                console = results()
                console.print(f"quant serve on {document['url']}", markup=False)
                console.print(f"  open {document['login_url']} (one-time login)", markup=False)
                console.print(f"  token file {document['token_file']}", markup=False)
                console.print(f"  out {out}; Ctrl-C stops", markup=False)
            server.run()
        except KeyboardInterrupt:
            pass  # stopping before the server ran: the session still stops cleanly below
        finally:
            signal.signal(signal.SIGTERM, previous)
            sock.close()
            if service is not None:
                summary = service.stop()
                # One line, not the per-cycle list (it grows with every bar served).
                brief = {**summary, "cycles": len(summary.get("cycles") or ())}
                human().print(f"stopped: {json.dumps(brief, default=str)}", markup=False)
