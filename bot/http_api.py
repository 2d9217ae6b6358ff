"""The status page, /healthz, /metrics and a small control API over HTTP (aiohttp, on the daemon's loop).

Bound to 127.0.0.1 unless configured otherwise. Every endpoint but `/` (a static page that holds no data)
and `/healthz` needs `Authorization: Bearer <token>`, compared in constant time; the token comes from
$ISHOWTTS_HTTP_TOKEN, else it is generated once into `state_dir/http-token` (0600; a token file others can
read is refused). Bodies are capped at `http.max_body_bytes` (413) and must arrive within
`http.idle_timeout_s` (408); bodies are typed strictly (`true` is not a uid). Connections, Host and
malformed requests are guarded by bot/http_guard.py. A bad request gets a 4xx with a one-line reason;
an unexpected failure is logged with its traceback and answered 500 without one. Control requests act as
the operator and go through the same moderator path (and audit log) as chat commands.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.commands import parse_command
from bot.config import HttpConfig
from bot.errors import UserError
from bot.events import ChatEvent, Role
from bot.filters import Dropped
from bot.http_guard import CappedProtocols, connection_cap, host_check, server_logger
from bot.metrics import CONTENT_TYPE
from bot.pipeline import Daemon
from bot.private_file import refuse_if_shared
from bot.state_store import write_atomic

log = logging.getLogger(__name__)

TOKEN_ENV = "ISHOWTTS_HTTP_TOKEN"
OPEN_PATHS = frozenset({"/", "/healthz"})
STOP_S = 2.0
"""At shutdown, requests in progress get this long (aiohttp's default, 60 s, would outlast TimeoutStopSec)."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SayBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str = Field(min_length=1, max_length=2000)


class MuteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    uid: int = Field(gt=0, lt=2**63)
    seconds: float | None = Field(default=None, gt=0, le=365 * 86400)
    name: str = Field(default="", max_length=64)


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    command: str = Field(min_length=1, max_length=200, description="as in chat, without the prefix: 'pause'")


def load_token(state_dir: str) -> str:
    """$ISHOWTTS_HTTP_TOKEN, else the token saved in the state folder, else a new one saved there."""
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token
    path = Path(state_dir) / "http-token"
    refuse_if_shared(path, "http-token", "the HTTP API's token")
    try:
        saved = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        saved = ""
    except (OSError, UnicodeDecodeError) as err:  # a folder, unreadable, not text: one line at start, no traceback
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not UTF-8 text"
        raise UserError(
            f"state_dir: cannot read the HTTP token {path}: {reason} (remove it, or set {TOKEN_ENV})"
        ) from None
    if saved:
        return saved
    token = secrets.token_urlsafe(24)
    write_atomic(path, token.encode())
    log.info("HTTP API token generated in %s (or set %s)", path, TOKEN_ENV)
    return token


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class HttpApi:
    def __init__(self, daemon: Daemon, cfg: HttpConfig, token: str | None = None) -> None:
        self.daemon = daemon
        self.cfg = cfg
        self._token = (token or load_token(daemon.cfg.resolved_state_dir())).encode()
        self.app = web.Application(
            client_max_size=cfg.max_body_bytes,
            middlewares=[host_check(cfg.host, cfg.allowed_hosts), self._errors, self._auth],
        )
        self.app.add_routes(
            [
                web.get("/", self._page),
                web.get("/healthz", self._healthz),
                web.get("/metrics", self._metrics),
                web.get("/api/status", self._status),
                web.get("/api/queue", self._queue),
                web.post("/api/say", self._say),
                web.post("/api/skip", self._skip),
                web.post("/api/mute", self._mute),
                web.post("/api/command", self._command),
            ]
        )
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.protocols: CappedProtocols | None = None
        self.port = 0

    async def start(self) -> None:
        # The keep-alive timer runs from connect until a complete request: idle connections and
        # slowly-sent headers (slowloris) are both closed after idle_timeout_s.
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.cfg.idle_timeout_s,
            logger=server_logger(),
            shutdown_timeout=STOP_S,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self.protocols = CappedProtocols(self._runner.server, connection_cap(self.cfg.max_connections))
        try:
            self._server = await asyncio.get_running_loop().create_server(self.protocols, self.cfg.host, self.cfg.port)
        except OSError as err:
            await self._runner.cleanup()
            from bot.errors import UserError

            raise UserError(f"http: cannot listen on {self.cfg.host}:{self.cfg.port}: {err.strerror or err}") from None
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self.cfg.port
        log.info("status page on http://%s:%d/ (control API needs the token)", self.cfg.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- middlewares ------------------------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"request body larger than {self.cfg.max_body_bytes} bytes")
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            return _error(500, "internal error (logged)")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _error(401, "missing 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(header[7:].strip().encode(), self._token):
            return _error(403, "wrong token")
        return await handler(request)

    async def _body(self, request: web.Request, model: type[BaseModel]) -> Any:
        try:
            raw = await asyncio.wait_for(request.read(), self.cfg.idle_timeout_s)  # 413 past client_max_size
        except asyncio.TimeoutError:
            raise web.HTTPRequestTimeout(reason=f"body not received within {self.cfg.idle_timeout_s:g} s") from None
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise web.HTTPBadRequest(reason=f"{where}: {first['msg']}") from None

    # -- handlers ---------------------------------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.Response:
        html = files("bot").joinpath("web/status.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = self.daemon.health()
        return web.json_response({"ok": not problems, "problems": problems}, status=503 if problems else 200)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.daemon.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.daemon.status(), dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _queue(self, request: web.Request) -> web.Response:
        return web.json_response(self.daemon.queue_items(), dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _say(self, request: web.Request) -> web.Response:
        body: SayBody = await self._body(request, SayBody)
        result = self.daemon.filter.apply(ChatEvent(text=body.text, uname="operator", role=Role.OPERATOR))
        if isinstance(result, Dropped):
            return _error(422, f"not spoken: {result.reason}")
        self.daemon.queue.put(result)
        return web.json_response({"queued": result.seq, "text": result.text}, status=202)

    async def _skip(self, request: web.Request) -> web.Response:
        return web.json_response({"skipped": self.daemon.sink.skip()})

    async def _mute(self, request: web.Request) -> web.Response:
        body: MuteBody = await self._body(request, MuteBody)
        dropped = await self.daemon.moderator.mute(body.uid, body.name, body.seconds, by="operator (http)")
        await self.daemon.store.audit({"uid": 0, "uname": "http", "verb": "mute", "target": body.uid, "ok": True})
        return web.json_response({"muted": body.uid, "dropped": dropped})

    async def _command(self, request: web.Request) -> web.Response:
        body: CommandBody = await self._body(request, CommandBody)
        prefix = self.daemon.cfg.moderation.prefixes[0]
        command = parse_command(f"{prefix} {body.command}", [prefix])
        assert command is not None  # it has the prefix
        event = ChatEvent(text=command.raw, uname="operator (http)", role=Role.OPERATOR)
        result = await self.daemon.moderator.handle(event, command)
        return web.json_response({"ok": result.ok, "reply": result.reply}, status=200 if result.ok else 400)
