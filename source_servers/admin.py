"""The `/_admin/*` routes of the stand-in servers, and the guard in front of them.

Admin routes change what a server answers (faults) and the world it serves. A server
listens on loopback, which every local user and every web page open in a browser on
this machine can reach (a page may post to `http://127.0.0.1:8101`, or reach it under
its own host name by DNS rebinding). `AdminGuard` therefore refuses, before any route
runs or any body is read:

- a request with an `Origin` other than the server's own, or a `Sec-Fetch-Site` other
  than `same-origin` / `none` (403): browsers send these on cross-site requests, and
  nothing legitimate calls these routes from a web page;
- a request without the right `X-Admin-Token` (401). The token is random per start of
  the servers (`start_sources`) and held only by the process that started them
  (`RunningSources.admin_token`); `partnerpulse sources serve` prints it to its stdout
  only when no other user can read that.

Every route is a named operation (faults, statistics, `world_ops`); none takes SQL.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from source_servers import world_ops
from source_servers.faults import SourceState

if TYPE_CHECKING:
    from source_servers.runtime import World

ADMIN_PREFIX = "/_admin"
ADMIN_TOKEN_HEADER = "X-Admin-Token"
_SAME_SITE = (b"same-origin", b"none")


def is_admin_path(path: str) -> bool:
    """Whether `path` is under `/_admin` (guarded, never faulted or counted)."""
    return path.startswith(ADMIN_PREFIX)


class AdminGuard:
    """Pure ASGI middleware: `/_admin/*` only with the token and from no foreign origin."""

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("an admin token is required")
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # Starlette routes only http scopes to a Route, so a websocket cannot reach one.
        if scope["type"] == "http" and is_admin_path(scope["path"]):
            refused = self._refusal(scope)
            if refused is not None:
                status, message = refused
                await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: dict) -> tuple[int, str] | None:
        headers: dict[bytes, list[bytes]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.lower(), []).append(value)
        origins = headers.get(b"origin", [])
        if origins and (len(origins) > 1 or origins[0].decode("latin-1") != _own_origin(scope)):
            return 403, "admin requests from another origin are refused"
        if any(site not in _SAME_SITE for site in headers.get(b"sec-fetch-site", [])):
            return 403, "admin requests from another site are refused"
        given = headers.get(ADMIN_TOKEN_HEADER.lower().encode(), [])
        if len(given) != 1 or not hmac.compare_digest(given[0], self._token):
            return 401, f"missing or wrong {ADMIN_TOKEN_HEADER}"
        return None


def _own_origin(scope: dict) -> str | None:
    """This server's origin, from the socket the request came in on (not the Host header,
    which a DNS-rebinding page controls)."""
    server = scope.get("server")
    if not server or server[1] is None:
        return None
    host, port = server
    scheme = scope.get("scheme", "http")
    shown = f"[{host}]" if ":" in host else host
    if (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{shown}"
    return f"{scheme}://{shown}:{port}"


def admin_routes(state: SourceState, world: World) -> list[Route]:
    """The `/_admin` routes of one server: faults, statistics and named world operations."""

    async def get_faults(request: Request) -> Response:
        return JSONResponse(state.faults_dict())

    async def post_faults(request: Request) -> Response:
        try:
            raw = json.loads(await request.body() or b"{}")
            state.set_faults(raw)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(state.faults_dict())

    async def get_stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def reset_stats(request: Request) -> Response:
        state.reset_stats()
        return JSONResponse(state.stats())

    async def restate_report(request: Request) -> Response:
        return await _world_operation(
            request,
            required={"report_id"},
            optional={"amount_factor", "new_report_id"},
            operation=lambda args: world_ops.restate_report(world, **args),
        )

    async def change_amount(request: Request) -> Response:
        return await _world_operation(
            request,
            required={"record", "key", "amount", "modified_at"},
            optional=set(),
            operation=lambda args: {"changed": world_ops.change_amount(world, **args)},
        )

    return [
        Route(f"{ADMIN_PREFIX}/faults", get_faults, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/faults", post_faults, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/stats", get_stats, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/stats/reset", reset_stats, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/world/restate-report", restate_report, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/world/change-amount", change_amount, methods=["POST"]),
    ]


async def _world_operation(
    request: Request,
    *,
    required: set[str],
    optional: set[str],
    operation: Callable[[dict[str, Any]], dict[str, Any]],
) -> Response:
    try:
        args = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return JSONResponse({"error": f"the body is not JSON: {exc}"}, status_code=400)
    if not isinstance(args, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    unknown, missing = set(args) - required - optional, required - set(args)
    if unknown or missing:
        return JSONResponse(
            {
                "error": f"unknown: {', '.join(sorted(unknown)) or '-'}; "
                f"missing: {', '.join(sorted(missing)) or '-'}; "
                f"expected {', '.join(sorted(required))} and optionally "
                f"{', '.join(sorted(optional)) or 'nothing else'}"
            },
            status_code=400,
        )
    try:
        result = await run_in_threadpool(operation, args)
    except world_ops.NotFound as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except world_ops.WorldOpError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(result)
