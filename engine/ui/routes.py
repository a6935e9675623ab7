"""The page's HTTP routes, as one WSGI application (waitress serves it, see :mod:`engine.ui.server`).

Routes:
    ``GET /``                 the page (``static/index.html``), its assets under ``/static/``
    ``GET /api/state``        the DAG, states, latest refreshes, sinks and stream progress
    ``GET /api/node?name=N``  one object: its SQL, columns and types, its own refresh history
    ``POST /api/stream``      start a stream: JSON body ``{"batches": n, "records": n, "delay": s}``
    ``POST /api/stream/stop`` stop the running stream before its next batch
    ``POST /api/refresh``     refresh every dynamic table now (MANUAL)
    ``POST /api/cli/status|history|query``  read commands of other ``pipe`` processes
                              (they present the token of the owner file, see :mod:`engine.ui.owner`)

Requests must name a loopback host (no DNS rebinding); the page's POSTs must be JSON from its own
origin (no cross-site writes). Every answer forbids framing. Waitress answers malformed requests
(400), bodies over the limit (413) and slow clients (timeouts) before any of this runs.
"""

from __future__ import annotations

import hmac
import json
import os
from decimal import Decimal
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from engine.errors import PipeError

if TYPE_CHECKING:
    from engine.ui.server import UiServer

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'",
    ),
]
TOKEN_HEADER = "X-Pipe-Token"


class HttpError(Exception):
    """A refused request: its status and the one-line reason sent back as ``{"error": ...}``."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def static_file(name: str) -> bytes:
    """The bytes of one packaged asset of the page.

    Raises:
        FileNotFoundError: there is no such asset.
    """
    folder = resources.files("engine.ui") / "static"
    names = {entry.name for entry in folder.iterdir() if entry.is_file()}
    if name not in names:  # also refuses "../" and anything not shipped
        raise FileNotFoundError(name)
    return (folder / name).read_bytes()


class Application:
    """The WSGI callable in front of one :class:`~engine.ui.server.UiServer`."""

    def __init__(self, server: UiServer, *, max_body: int):
        self.server = server
        self.max_body = max_body

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        try:
            self._check_host(environ)
            status, content_type, body = self._route(environ)
        except HttpError as exc:
            status, content_type, body = exc.status, "application/json", _dumps({"error": exc.message})
        except Exception as exc:  # a bug: say so to the client instead of dropping the connection
            message = f"internal error: {type(exc).__name__}: {exc}"
            status, content_type, body = HTTPStatus.INTERNAL_SERVER_ERROR, "application/json", _dumps({"error": message})
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *_SECURITY_HEADERS]
        start_response(f"{status.value} {status.phrase}", headers)
        return [body]

    # -- routing ------------------------------------------------------------------------------

    def _route(self, environ: dict) -> tuple[HTTPStatus, str, bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        server = self.server
        if not server.page and not path.startswith("/api/cli/"):
            raise HttpError(HTTPStatus.NOT_FOUND, f"{server.command} serves no page: run it with --ui for one")
        if method in ("GET", "HEAD"):
            if path in ("/", "/index.html"):
                return self._asset("index.html")
            if path.startswith("/static/"):
                return self._asset(path[len("/static/"):])
            if path == "/api/state":
                return HTTPStatus.OK, "application/json", _dumps(server.state())
            if path == "/api/node":
                name = (parse_qs(environ.get("QUERY_STRING", "")).get("name") or [""])[0]
                return HTTPStatus.OK, "application/json", _dumps(server.node(name))
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such page: {path}")
        if method != "POST":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not served")
        if path.startswith("/api/cli/"):
            self._check_token(environ)
            body = self._body(environ)
            return HTTPStatus.OK, "application/json", server.forwarded(path[len("/api/cli/"):], body)
        self._check_same_origin(environ)
        routes = {
            "/api/stream": lambda body: (server.stream(body), HTTPStatus.ACCEPTED),
            "/api/stream/stop": lambda body: (server.stop_stream(), HTTPStatus.OK),
            "/api/refresh": lambda body: (server.refresh(), HTTPStatus.OK),
        }
        if path not in routes:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such action: {path}")
        body = self._body(environ)
        try:
            payload, status = routes[path](body)
        except PipeError as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
        return status, "application/json", _dumps(payload)

    # -- checks -------------------------------------------------------------------------------

    @staticmethod
    def _check_host(environ: dict) -> None:
        host = (environ.get("HTTP_HOST") or "").lower()
        host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise HttpError(HTTPStatus.FORBIDDEN, "pipe ui answers only to 127.0.0.1 / localhost")

    @staticmethod
    def _check_same_origin(environ: dict) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin != f"http://{environ.get('HTTP_HOST', '')}":
            raise HttpError(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")
        if not (environ.get("CONTENT_TYPE") or "").startswith("application/json"):
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)")

    def _check_token(self, environ: dict) -> None:
        sent = environ.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_")) or ""
        if environ.get("HTTP_ORIGIN") is not None or not hmac.compare_digest(sent.encode(), self.server.token.encode()):
            raise HttpError(HTTPStatus.FORBIDDEN, "only pipe commands that can read the owner file may ask this")

    def _body(self, environ: dict) -> dict[str, Any]:
        """The JSON object sent, ``{}`` for none. Infinite or NaN numbers are refused."""
        length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress checked it is a number
        if length > self.max_body:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the request body is over {self.max_body:,} bytes")
        raw = environ["wsgi.input"].read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise HttpError(HTTPStatus.BAD_REQUEST, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "the request body must be a JSON object")
        return body

    # -- answers ------------------------------------------------------------------------------

    @staticmethod
    def _asset(name: str) -> tuple[HTTPStatus, str, bytes]:
        try:
            data = static_file(name)
        except FileNotFoundError:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such file: {name}") from None
        kind = _TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
        return HTTPStatus.OK, f"{kind}; charset=utf-8", data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, default=str, allow_nan=False).encode()


def number(body: dict[str, Any], key: str, kind: type, *, low: float, high: float) -> Any:
    """``body[key]`` as a finite ``kind`` within [low, high], or None when absent.

    Raises:
        HttpError: 400 naming the key, the value and the range.
    """
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = Decimal(str(value))
        if not number.is_finite() or (kind is int and number != number.to_integral_value()):
            raise ValueError
    except (ArithmeticError, ValueError):
        kind_name = "a whole number" if kind is int else "a number"
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{key} must be {kind_name}, not {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{key} must be between {low:g} and {high:g}, not {str(value)[:40]}")
    return kind(number)
