"""The console's HTTP interface: server-rendered pages and the same data under ``/api/v1``.

Pages are rendered on the server (Jinja2) with one small script that refreshes the live
parts of a page in place; there is no front-end build and nothing is loaded from a CDN.
Every page and endpoint needs a signed-in viewer (a session cookie in the browser; HTTP
basic or a bearer token for the API) and filters what it shows by the viewer's rights
(``access``). A resource the viewer may not see is refused with 403 whether or not it
exists, so a refusal reveals nothing about another tenant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from streamplane.console import charts, views
from streamplane.console.access import AccessRules
from streamplane.console.browser import BrowseDenied, BrowseError, browse
from streamplane.console.capabilities import Capabilities
from streamplane.console.estate import EstateCache, Snapshot
from streamplane.console.schemas import SchemaDenied, subject_history
from streamplane.console.sessions import COOKIE, Session, Sessions
from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec

HERE = Path(__file__).parent
API = "/api/v1"


@dataclass
class Console:
    """What the app serves from: the spec, the cluster's connection, its cache, sign-in."""

    spec: Spec
    cluster: str
    settings: ConnectionSettings
    cache: EstateCache
    sessions: Sessions
    registry_url: str | None = None
    #: The local cluster's data directory (None for a remote cluster).
    data_dir: Path | None = None
    #: Prometheus with the SLO rules, when one runs (tenant SLIs read from it).
    prometheus: str | None = None
    capabilities: Capabilities = field(init=False)
    _rules: tuple[float, AccessRules] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.capabilities = Capabilities(
            self.spec, self.cluster, self.settings, self.cache.inspector, self.data_dir
        )

    def estate(self) -> views.Estate:
        """The newest snapshot with its access rules (rebuilt only when the ACLs were read)."""
        snap: Snapshot = self.cache.snapshot
        if self._rules is None or self._rules[0] != snap.taken_at:
            self._rules = (snap.taken_at, AccessRules(self.spec, snap.acls))
        return views.Estate(self.spec, self.cluster, snap, self._rules[1])

    def registry(self, session: Session) -> httpx.Client:
        """A registry client authenticated as the viewer (the registry decides what they read)."""
        if self.registry_url is None:
            raise HTTPException(503, "no schema registry is configured for this console")
        auth = session.registry_auth()
        if isinstance(auth, dict):
            return httpx.Client(base_url=self.registry_url, headers=auth, timeout=10)
        return httpx.Client(base_url=self.registry_url, auth=auth, timeout=10)


class NotSignedIn(Exception):
    """A page asked for without a session: the browser goes to the sign-in page."""


class Refused(Exception):
    """What the viewer may not see (403) or what is not there (404), raised by the code a
    page and its API twin share: the page shows ``page`` in its template, the API answers
    ``message`` as JSON."""

    def __init__(self, status: int, message: str, *, page: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.page = page


def create_app(console: Console) -> FastAPI:
    app = FastAPI(
        title="Streamplane console",
        version="1",
        description="The governed platform at a glance; the same data as the pages.",
        docs_url=f"{API}/docs",
        openapi_url=f"{API}/openapi.json",
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(charts=charts, quote=quote)
    templates.env.filters.update(_CHART_ROWS)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def viewer_session(request: Request) -> Session | None:
        found = console.sessions.from_cookie(request.cookies.get(COOKIE))
        if found is None and "authorization" in request.headers:
            try:
                found = console.sessions.from_authorization(request.headers["authorization"])
            except StreamplaneError as exc:
                raise HTTPException(503, str(exc)) from exc
        return found

    def api_session(request: Request) -> Session:
        found = request.state.session = viewer_session(request)
        if found is None:
            raise HTTPException(
                401,
                "sign in: HTTP basic with a principal's SCRAM password, or a bearer token "
                "from the OIDC issuer",
                headers={"WWW-Authenticate": 'Basic realm="streamplane"'},
            )
        return found

    def page_session(request: Request) -> Session:
        found = request.state.session = viewer_session(request)
        if found is None:
            raise NotSignedIn()
        return found

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, _exc: NotSignedIn) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    def render(
        request: Request, session: Session, template: str, status: int = 200, **data: Any
    ) -> HTMLResponse:
        estate = console.estate()
        return templates.TemplateResponse(
            request,
            template,
            {
                "viewer": session.viewer,
                "cluster": console.cluster,
                "read_at": estate.snapshot.taken_at,
                "error": estate.snapshot.error,
                "now": time.time(),
                **data,
            },
            status_code=status,
        )

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        if request.url.path.startswith(API):
            return JSONResponse(
                {"error_code": exc.status, "message": exc.message}, status_code=exc.status
            )
        template = "denied.html" if exc.status == 403 else "missing.html"
        return render(request, request.state.session, template, status=exc.status, what=exc.page)

    # ------------------------------------------- what a page and its API twin share
    def visible_topic(session: Session, name: str) -> views.Estate:
        estate = console.estate()
        if not estate.rules.may_see_topic(session.viewer, name):
            raise Refused(
                403, f"{session.viewer.principal} may not see topic {name}", page=f"topic {name}"
            )
        return estate

    def topic_data(session: Session, name: str) -> dict[str, Any]:
        data = topic_detail(visible_topic(session, name), session, name)
        if data is None:
            raise Refused(
                404, f"no topic {name} on cluster {console.cluster}", page=f"no topic {name}"
            )
        return data

    def messages_data(
        session: Session, name: str, partition: int | None, limit: int
    ) -> dict[str, Any]:
        visible_topic(session, name)
        try:
            return browse(
                console.spec, console.settings, session, name, registry_url=console.registry_url,
                data_dir=console.data_dir, limit=max(1, min(limit, 200)), partition=partition,
            )  # fmt: skip
        except BrowseError as exc:
            raise Refused(404, str(exc), page=str(exc)) from exc
        except BrowseDenied as exc:
            raise Refused(
                403, f"the broker refused {session.viewer.principal}: {exc}",
                page=f"the records of {name}: {exc}",
            ) from exc  # fmt: skip

    def group_data(session: Session, name: str) -> dict[str, Any]:
        estate = console.estate()
        if not estate.rules.may_see_group(session.viewer, name):
            raise Refused(
                403, f"{session.viewer.principal} may not see group {name}",
                page=f"consumer group {name}",
            )  # fmt: skip
        data = views.group(estate, name)
        if data is None:
            raise Refused(
                404, f"no consumer group {name} on cluster {console.cluster}",
                page=f"no consumer group {name}",
            )  # fmt: skip
        return data

    def plan_data(session: Session) -> dict[str, Any]:
        if not session.viewer.super_user:
            raise Refused(
                403, f"{session.viewer.principal} may not see the plan",
                page="the plan (it lists every tenant's resources)",
            )  # fmt: skip
        return console.capabilities.plan()

    # ---------------------------------------------------------------- sign-in
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return templates.TemplateResponse(
            request, "login.html", {"next": _safe_next(next), "issuer": console.sessions.issuer}
        )

    def signed_in(session: Session, target: str) -> Response:
        opened = console.sessions.open(session)
        answer = RedirectResponse(_safe_next(target), status_code=303)
        answer.set_cookie(
            COOKIE, opened.id, httponly=True, samesite="strict",
            max_age=int(opened.expires - time.time()),
        )  # fmt: skip
        return answer

    def login_failed(request: Request, target: str, message: str) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": _safe_next(target), "issuer": console.sessions.issuer, "failed": message},
            status_code=401,
        )

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        try:
            session = console.sessions.verify_password(username.strip(), password)
        except StreamplaneError as exc:
            return login_failed(request, next, f"The cluster did not answer: {exc}")
        if session is None:
            return login_failed(request, next, "The cluster refused that user name and password.")
        return signed_in(session, next)

    @app.post("/login/oidc", include_in_schema=False)
    def login_oidc(
        request: Request,
        client_id: str = Form(""),
        client_secret: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        try:
            token = console.sessions.token_from_issuer(client_id.strip(), client_secret)
            session = console.sessions.verify_token(token)
        except StreamplaneError as exc:
            return login_failed(request, next, str(exc))
        if session is None:
            return login_failed(request, next, "The cluster refused the issuer's token.")
        return signed_in(session, next)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        console.sessions.close(request.cookies.get(COOKIE, ""))
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(COOKIE)
        return answer

    # ------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        data = views.overview(console.estate(), session.viewer)
        return render(request, session, "overview.html", data=data)

    @app.get("/topics", response_class=HTMLResponse, include_in_schema=False)
    def topics_page(request: Request, q: str = "", tenant: str = "", page: int = 1) -> HTMLResponse:
        session = page_session(request)
        data = views.topics(
            console.estate(), session.viewer, query=q, tenant=tenant or None, page=page
        )
        return render(request, session, "topics.html", data=data, q=q, tenant=tenant)

    @app.get("/topics/{name}", response_class=HTMLResponse, include_in_schema=False)
    def topic_page(request: Request, name: str) -> HTMLResponse:
        session = page_session(request)
        return render(request, session, "topic.html", data=topic_data(session, name))

    @app.get("/topics/{name}/messages", response_class=HTMLResponse, include_in_schema=False)
    def messages_page(
        request: Request, name: str, partition: int | None = None, limit: int = 20
    ) -> HTMLResponse:
        session = page_session(request)
        data = messages_data(session, name, partition, limit)
        return render(request, session, "messages.html", data=data, partition=partition,
                      limit=limit)  # fmt: skip

    @app.get("/groups", response_class=HTMLResponse, include_in_schema=False)
    def groups_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        return render(
            request, session, "groups.html", rows=views.groups(console.estate(), session.viewer)
        )

    @app.get("/groups/{name}", response_class=HTMLResponse, include_in_schema=False)
    def group_page(request: Request, name: str) -> HTMLResponse:
        session = page_session(request)
        return render(request, session, "group.html", data=group_data(session, name))

    @app.get("/lineage", response_class=HTMLResponse, include_in_schema=False)
    def lineage_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        data = console.capabilities.lineage(console.estate(), session.viewer)
        return render(request, session, "lineage.html", data=data)

    @app.get("/plan", response_class=HTMLResponse, include_in_schema=False)
    def plan_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        return render(request, session, "plan.html", data=plan_data(session))

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(
        request: Request, principal: str = "", resource: str = "", source: str = "",
        denied_only: bool = False, hours: float = 24.0,
    ) -> HTMLResponse:  # fmt: skip
        session = page_session(request)
        rows = audit_rows(session, principal, resource, source, denied_only, hours)
        filters = {"principal": principal, "resource": resource, "source": source,
                   "denied_only": denied_only, "hours": hours}  # fmt: skip
        return render(request, session, "audit.html", rows=rows, filters=filters)

    @app.get("/slos", response_class=HTMLResponse, include_in_schema=False)
    def slos_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        rows = console.capabilities.slos(session.viewer, prometheus=console.prometheus)
        return render(request, session, "slos.html", rows=rows)

    @app.get("/cost", response_class=HTMLResponse, include_in_schema=False)
    def cost_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        data = console.capabilities.cost(console.estate(), session.viewer)
        return render(request, session, "cost.html", data=data)

    @app.get("/replication", response_class=HTMLResponse, include_in_schema=False)
    def replication_page(request: Request) -> HTMLResponse:
        session = page_session(request)
        flows = console.capabilities.replication(console.estate(), session.viewer)
        return render(request, session, "replication.html", flows=flows)

    # -------------------------------------------------------------------- API
    @app.get(f"{API}/whoami", tags=["identity"])
    def whoami(request: Request) -> dict[str, Any]:
        """The principal the request is signed in as, its tenant, and whether it is a super user."""
        viewer = api_session(request).viewer
        return {"principal": viewer.principal, "tenant": viewer.tenant,
                "super_user": viewer.super_user}  # fmt: skip

    @app.get(f"{API}/overview", tags=["estate"])
    def overview_api(request: Request) -> dict[str, Any]:
        """The cluster's health and the tenants, topics and groups in the viewer's view."""
        return views.overview(console.estate(), api_session(request).viewer)

    @app.get(f"{API}/topics", tags=["topics"])
    def topics_api(
        request: Request, q: str = "", tenant: str = "", page: int = 1, size: int = 100
    ) -> dict[str, Any]:
        """One page of the topics the viewer may see (name substring ``q``, ``tenant``)."""
        return views.topics(
            console.estate(), api_session(request).viewer, query=q, tenant=tenant or None,
            page=page, size=size,
        )  # fmt: skip

    @app.get(f"{API}/topics/{{name}}", tags=["topics"])
    def topic_api(request: Request, name: str) -> dict[str, Any]:
        """A topic: the spec's view, partitions and configs, schemas, producers, consumers, lag."""
        return topic_data(api_session(request), name)

    @app.get(f"{API}/topics/{{name}}/messages", tags=["topics"])
    def messages_api(
        request: Request, name: str, partition: int | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """The newest records, read with the viewer's own credentials; encrypted fields
        decrypted only with the viewer's key access; tagged fields masked outside the
        topic's tenant."""
        return messages_data(api_session(request), name, partition, limit)

    @app.get(f"{API}/groups", tags=["groups"])
    def groups_api(request: Request) -> list[dict[str, Any]]:
        """The consumer groups the viewer may see, with lag and health (Burrow's rules)."""
        return views.groups(console.estate(), api_session(request).viewer)

    @app.get(f"{API}/groups/{{name}}", tags=["groups"])
    def group_api(request: Request, name: str) -> dict[str, Any]:
        """A group: members, lag and health per partition, and its lag over time."""
        return group_data(api_session(request), name)

    @app.get(f"{API}/lineage", tags=["lineage"])
    def lineage_api(request: Request) -> dict[str, Any]:
        """Declared and observed flows on topics the viewer may see, and the graph's layout."""
        return console.capabilities.lineage(console.estate(), api_session(request).viewer)

    @app.get(f"{API}/plan", tags=["gitops"])
    def plan_api(request: Request) -> dict[str, Any]:
        """What apply would change for the current spec, and the drift (super users only)."""
        return plan_data(api_session(request))

    @app.get(f"{API}/audit", tags=["audit"])
    def audit_api(
        request: Request, principal: str = "", resource: str = "", source: str = "",
        denied_only: bool = False, hours: float = 24.0,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Audit events (newest first) the viewer may see, filtered."""
        session = api_session(request)
        return audit_rows(session, principal, resource, source, denied_only, hours)

    @app.get(f"{API}/slos", tags=["slos"])
    def slos_api(request: Request) -> list[dict[str, Any]]:
        """Budget left and burn rates of the platform's SLOs and the viewer's tenant's."""
        viewer = api_session(request).viewer
        return console.capabilities.slos(viewer, prometheus=console.prometheus)

    @app.get(f"{API}/cost", tags=["cost"])
    def cost_api(request: Request) -> dict[str, Any]:
        """The newest cost report over the viewer's topics (``measuring`` until the first)."""
        return console.capabilities.cost(console.estate(), api_session(request).viewer)

    @app.get(f"{API}/replication", tags=["replication"])
    def replication_api(request: Request) -> list[dict[str, Any]]:
        """Each replication flow of this cluster: MM2's state and lag per visible topic."""
        return console.capabilities.replication(console.estate(), api_session(request).viewer)

    def audit_rows(
        session: Session, principal: str, resource: str, source: str, denied_only: bool,
        hours: float,
    ) -> list[dict[str, Any]]:  # fmt: skip
        since = int((time.time() - max(hours, 0.01) * 3600) * 1000)
        return console.capabilities.audit(
            session.viewer, principal=principal, resource=resource, denied=denied_only,
            source=source, since_ms=since,
        )  # fmt: skip

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse(
            {"error_code": exc.status_code, "message": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    def topic_detail(estate: views.Estate, session: Session, name: str) -> dict[str, Any] | None:
        entry = estate.spec.topics.get(name)
        layout = estate.snapshot.layouts.get(name)
        if entry is None and layout is None:
            return None
        data = views.topic_row(estate, name)
        data.update(
            owners=views.owners(entry),
            declared_configs={k: str(v) for k, v in entry.topic.kafka_configs().items()}
            if entry else {},
            **views.topic_flows(estate, name),
            groups=views.topic_groups(estate, session.viewer, name),
            schemas=schemas_of(session, name),
        )  # fmt: skip
        if layout is not None:
            detail = console.cache.inspector.topic(name, sizes=True)
            data["configs"] = [
                {"name": c.name, "value": c.value, "source": c.source} for c in detail.configs
            ]
            data["size_on_disk_bytes"] = detail.size_on_disk_bytes
            data["partition_details"] = [
                {"partition": p.state.partition, "leader": p.state.leader,
                 "replicas": list(p.state.replicas), "isr": list(p.state.isr),
                 "start": p.start_offset, "end": p.end_offset, "records": p.records}
                for p in detail.partitions
            ]  # fmt: skip
        return data

    def schemas_of(session: Session, topic: str) -> list[dict[str, Any]]:
        if console.registry_url is None:
            return []
        found = []
        with console.registry(session) as client:
            for part in ("key", "value"):
                subject = f"{topic}-{part}"
                try:
                    history = subject_history(client, subject)
                except SchemaDenied as exc:
                    found.append({"subject": subject, "denied": str(exc)})
                    continue
                except httpx.HTTPError as exc:
                    found.append({"subject": subject, "error": f"the registry failed: {exc}"})
                    continue
                if history is not None:
                    found.append(history)
        return found

    return app


def _slo_name(row: dict[str, Any]) -> str:
    return f"{row['owner']}/{row['slo']}"


def _fast_burn(row: dict[str, Any]) -> float:
    burn = row["burn_rates"].get("fast-burn") or {}
    return float(burn.get("long") or 0.0)


#: Template filters turning a page's rows into (label, value) pairs for ``charts.bars``.
_CHART_ROWS: dict[str, Callable[[dict[str, Any]], tuple[str, float]]] = {
    "budget_bar": lambda r: (_slo_name(r), 100.0 * (r["budget_remaining"] or 0.0)),
    "burn_bar": lambda r: (_slo_name(r), _fast_burn(r)),
    "cost_bar": lambda r: (r["topic"], float(r["total_month"])),
    "lag_bar": lambda r: (r["topic"], float(r["lag_records"] or 0)),
}


def _safe_next(target: str) -> str:
    """Only a path of this console: never an open redirect to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
