"""The status page, /healthz, /metrics and a small control API over HTTP (aiohttp, on the daemon's loop).

Bound to 127.0.0.1 unless configured otherwise. Every endpoint but `/` (a static page that holds no data),
`/healthz` and the captions overlay (`/overlay` and its event stream: only what is being said aloud)
needs `Authorization: Bearer <token>`, compared in constant time; the token comes from
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
from html import escape as html_escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.captions import Captions, sse
from bot.commands import parse_command
from bot.config import Config, HttpConfig
from bot.errors import UserError
from bot.events import ChatEvent, Role
from bot.filters import Dropped
from bot.http_guard import CappedProtocols, connection_cap, host_check, server_logger
from bot.metrics import CONTENT_TYPE
from bot.moderation import CommandResult
from bot.pipeline import Daemon
from bot.private_file import refuse_if_shared
from bot.state_store import write_atomic

log = logging.getLogger(__name__)

TOKEN_ENV = "ISHOWTTS_HTTP_TOKEN"
OPEN_PATHS = frozenset({"/", "/healthz", "/overlay", "/overlay/events"})
KEEPALIVE_S = 15.0
"""An overlay's event stream says something this often, so proxies and OBS keep it open."""
STOP_S = 2.0
"""At shutdown, requests in progress get this long (aiohttp's default, 60 s, would outlast TimeoutStopSec)."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SayBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str = Field(min_length=1, max_length=2000)


class MuteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    uid: int = Field(gt=0, lt=2**63)
    seconds: float | None = Field(default=None, gt=0, le=365 * 86400, description="null = until unmuted")


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    command: str = Field(min_length=1, max_length=200, description="as in chat, without the prefix: 'pause'")


def token_hint(state_dir: str) -> str:
    """Where the operator finds the token (shown by the status page opened without one)."""
    if os.environ.get(TOKEN_ENV, "").strip():
        return f"the token is in the daemon's ${TOKEN_ENV}"
    return f"the token is in {Path(state_dir) / 'http-token'}"


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
        self._token_hint = token_hint(daemon.cfg.resolved_state_dir())
        self.app = web.Application(
            client_max_size=cfg.max_body_bytes,
            middlewares=[host_check(cfg.host, cfg.allowed_hosts), self._errors, self._auth],
        )
        self.app.add_routes(
            [
                web.get("/", self._page),
                web.get("/healthz", self._healthz),
                web.get("/overlay", self._overlay),
                web.get("/overlay/events", self._overlay_events),
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
        self.captions = Captions(daemon.hearing)
        daemon.playback_listeners.append(self.captions.on_playback)
        daemon.reloader.hooks.append(self._reload)

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
            await self._listen(self.cfg)
        except UserError:
            await self._runner.cleanup()
            raise

    async def _listen(self, cfg: HttpConfig) -> None:
        assert self.protocols is not None
        try:
            server = await asyncio.get_running_loop().create_server(self.protocols, cfg.host, cfg.port)
        except OSError as err:
            raise UserError(f"http: cannot listen on {cfg.host}:{cfg.port}: {err.strerror or err}") from None
        self._server = server
        self.port = server.sockets[0].getsockname()[1] if server.sockets else cfg.port
        log.info("status page on http://%s:%d/ (control API needs the token)", cfg.host, self.port)
        log.info("captions overlay for OBS: http://%s:%d/overlay", cfg.host, self.port)

    async def _reload(self, cfg: Config) -> list[str]:
        """A reloaded `http`: a new address is listened on (then the old one closed); what the running
        server cannot change is named for a restart."""
        new, old = cfg.http, self.cfg
        fixed_keys = ("enabled", "max_body_bytes", "idle_timeout_s", "max_connections", "allowed_hosts")
        fixed = [f"http.{key}" for key in fixed_keys if getattr(new, key) != getattr(old, key)]
        if (new.host, new.port) != (old.host, old.port) and new.enabled:
            previous = self._server
            try:
                await self._listen(new)
            except UserError as err:
                log.error("%s; still on %s:%d", err, old.host, self.port)
                return fixed
            if previous is not None:
                previous.close()
        self.cfg = new.model_copy(update={key: getattr(old, key) for key in fixed_keys})
        return fixed

    async def stop(self) -> None:
        self.captions.close()
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
        html = html.replace("{{TOKEN_HINT}}", html_escape(self._token_hint))
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _overlay(self, request: web.Request) -> web.Response:
        html = files("bot").joinpath("web/overlay.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _overlay_events(self, request: web.Request) -> web.StreamResponse:
        """The captions as Server-Sent Events, until the page goes or the daemon stops."""
        queue = self.captions.subscribe()
        if queue is None:
            return _error(503, f"{self.captions.max_pages} overlay pages are connected already")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if message is None:
                    break
                await response.write(sse(message))
        except ConnectionError:
            pass  # the page went away
        finally:
            self.captions.unsubscribe(queue)
        return response

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = self.daemon.health.problems()
        return web.json_response({"ok": not problems, "problems": problems}, status=503 if problems else 200)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.daemon.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _status(self, request: web.Request) -> web.Response:
        status = self.daemon.snapshot().as_json()
        return web.json_response(status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _queue(self, request: web.Request) -> web.Response:
        return web.json_response(self.daemon.queue_items(), dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _say(self, request: web.Request) -> web.Response:
        body: SayBody = await self._body(request, SayBody)
        result = self.daemon.filter.apply(ChatEvent(text=body.text, uname="operator", role=Role.OPERATOR))
        if isinstance(result, Dropped):
            return _error(422, f"not spoken: {result.reason}")
        self.daemon.enqueue(result)
        return web.json_response({"queued": result.seq, "text": result.text}, status=202)

    async def _skip(self, request: web.Request) -> web.Response:
        result = await self._run("skip")
        return web.json_response({"skipped": result.reply == "skipped", "reply": result.reply})

    async def _mute(self, request: web.Request) -> web.Response:
        body: MuteBody = await self._body(request, MuteBody)
        seconds = "forever" if body.seconds is None else f"{body.seconds:.3f}s"
        result = await self._run(f"mute {body.uid} {seconds}")
        return web.json_response(
            {"ok": result.ok, "muted": body.uid, "reply": result.reply}, status=200 if result.ok else 400
        )

    async def _command(self, request: web.Request) -> web.Response:
        body: CommandBody = await self._body(request, CommandBody)
        result = await self._run(body.command)
        return web.json_response({"ok": result.ok, "reply": result.reply}, status=200 if result.ok else 400)

    async def _run(self, text: str) -> CommandResult:
        """A command as the operator typed it: the same path, count and audit record as one from chat."""
        prefix = self.daemon.cfg.moderation.prefixes[0]
        command = parse_command(f"{prefix} {text}", [prefix])
        assert command is not None  # it has the prefix
        event = ChatEvent(text=command.raw, uname="operator (http)", role=Role.OPERATOR)
        return await self.daemon.moderator.handle(event, command)
