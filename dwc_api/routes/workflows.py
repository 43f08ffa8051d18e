"""AI workflows and automations as workflow chains: a declaration becomes a chain spec the code
location loads (under DWC_HOME/api/chains), executing or triggering it launches the chain's job.
The advanced calls: text generation through the LLM resource, notifications through the
notification resource, an analytics summary read from the lake and the instance."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import yaml
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import require, service
from ..problems import Problem
from ..security import Principal
from .common import Declared, RunRef, Stats, atomic_write, declare, declared_name, get_declared, runs_by_status

CHANNELS = {"email": "email", "outbox": "outbox", "webhook": "webhook", "slack": "slack"}


def _text(value, limit: int = 2000) -> str:
    """User text inside a chain template: no template braces, bounded."""
    return re.sub(r"[{}]", "", str(value or ""))[:limit]


def _where(topic: str | None) -> dict:
    if not topic:
        return {"limit": 20}
    words = re.sub(r"[^\w\s-]", "", topic).strip()[:100]
    return {"where": f"(title ILIKE '%{words}%' OR text ILIKE '%{words}%')", "limit": 20} if words else {"limit": 20}


def _summary_steps() -> list[dict]:
    return [{"name": "summary", "uses": "summarize", "max_sentences": 2}]


def _generate(name: str, prompt: str) -> dict:
    return {
        "name": name,
        "uses": "generate",
        "per": "chain",
        "title": "{{ chain }} {{ date }}",
        "item_template": "- **{{ title }}**: {{ summary.summary }}",
        "template": f"{_text(prompt)}\n\n{{{{ count }}}} documents:\n\n{{{{ items }}}}\n",
    }


def _notify(name: str, channel: str, subject: str, body_from: str) -> dict:
    return {
        "name": name,
        "uses": "notify",
        "per": "chain",
        "channels": [CHANNELS.get(channel, "outbox")],
        "subject": _text(subject, 200) or "{{ chain }} {{ date }}",
        "template": f"{{{{ {body_from}.text }}}}",
    }


WORKFLOW_TEMPLATES = {
    "content_generation": "summaries of the documents on the topic, then a generated piece led by the prompt",
    "document_summary": "a short summary of each document on the topic",
    "digest_notification": "a generated digest of the documents on the topic, sent on the outbox channel",
}

AUTOMATION_TEMPLATES = {
    "ai_generation": "generate a text from the documents on the trigger's topic, led by the action's prompt",
    "send_notification": "send a notification (channel, recipient, subject) with what the earlier actions made",
}


def workflow_spec(name: str, body: dict) -> dict:
    data = body.get("input_data") or {}
    template = body.get("template_name") or "content_generation"
    steps = _summary_steps()
    if template in ("content_generation", "digest_notification"):
        steps.append(_generate("content", data.get("prompt") or body.get("name", "")))
    if template == "digest_notification":
        steps.append(_notify("announce", "outbox", f"{body.get('name', name)} {{{{ date }}}}", "content"))
    return {
        "name": name,
        "description": _text(body.get("name"), 200) + f" (declared through the API, template {template})",
        "owners": ["team:api"],
        "select": _where(data.get("topic")),
        "steps": steps,
    }


def automation_spec(name: str, body: dict) -> dict:
    steps = _summary_steps()
    last = None
    for i, action in enumerate(body.get("actions") or []):
        params = action.get("parameters") or {}
        if action.get("type") == "ai_generation":
            last = f"generate_{i}"
            steps.append(_generate(last, params.get("prompt") or params.get("template") or body.get("name", "")))
        elif action.get("type") == "send_notification":
            if last is None:
                last = f"generate_{i}_text"
                steps.append(_generate(last, params.get("message") or body.get("description") or ""))
            steps.append(_notify(f"notify_{i}", params.get("channel", "outbox"), params.get("subject", ""), last))
    return {
        "name": name,
        "description": _text(body.get("description") or body.get("name"), 300)
        + " (automation declared through the API)",
        "owners": ["team:api"],
        "select": {"limit": 20},
        "steps": steps,
    }


def chain_name(kind: str, obj: dict) -> str:
    return declared_name(obj, kind)


def write_chain(svc, spec: dict) -> str:
    """Validate the spec as `dwc chains validate` would, write it where the code location looks, reload."""
    from dwc_pipelines.chains.assets import declared_chains_dir
    from dwc_pipelines.chains.spec import ChainSpecError, parse_chain

    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    try:
        parse_chain(text, f"{spec['name']}.yaml")
    except ChainSpecError as exc:
        raise Problem(422, "invalid_request", f"the workflow does not make a valid chain: {exc}") from exc
    atomic_write(declared_chains_dir() / f"{spec['name']}.yaml", text)
    svc.platform.reload_location()
    return f"workflow_{spec['name']}_job"


class WorkflowIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    workflow_type: str = Field(default="content_generation", max_length=64)
    input_data: dict = Field(default_factory=dict)
    template_name: str | None = Field(default=None, max_length=64)
    ai_provider: str | None = Field(default=None, max_length=64)


class ActionIn(BaseModel):
    type: str = Field(pattern="^(ai_generation|send_notification)$")
    parameters: dict = Field(default_factory=dict)


class TriggerSpec(BaseModel):
    type: str = Field(default="event_based", pattern="^(event_based|manual)$")
    conditions: dict = Field(default_factory=dict)


class AutomationIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)
    trigger: TriggerSpec = TriggerSpec()
    actions: list[ActionIn] = Field(min_length=1, max_length=20)
    ai_decision_making: bool = False
    learning_enabled: bool = False


class TriggerIn(BaseModel):
    trigger_data: dict = Field(default_factory=dict)
    context: dict = Field(default_factory=dict)


class Triggered(BaseModel):
    triggered: bool
    reason: str
    run: RunRef | None = None


class ExecuteIn(BaseModel):
    workflow_id: str = Field(max_length=64)
    parameters: dict = Field(default_factory=dict)


class GenerateIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    provider: str | None = Field(default=None, max_length=64)


class Generated(BaseModel):
    text: str
    provider: str
    model: str | None
    usage: dict | None = None


class NotifyIn(BaseModel):
    channel: str = Field(default="outbox", pattern="^(email|outbox|webhook|slack)$")
    recipient: str | None = Field(default=None, max_length=320)
    subject: str = Field(min_length=1, max_length=300)
    message: str = Field(min_length=1, max_length=100_000)


def _tags(prefix: str, data: dict) -> dict:
    """Request data as run tags (short scalar values only; tags are for filtering, not payloads)."""
    return {
        f"dwc/{prefix}.{k}"[:60]: str(v)[:200]
        for k, v in list(data.items())[:10]
        if isinstance(v, (str, int, float, bool)) and re.fullmatch(r"[\w.-]+", str(k))
    }


def _launch_workflow(svc, obj: dict, kind: str, tags: dict) -> dict:
    run = svc.platform.launch(obj["job_name"], {}, {"dwc/workflow_id": obj["id"], "dwc/api": kind, **tags})
    svc.objects(obj["kind"]).update_state(obj["id"], last_run=run)
    return run


def _declare_chain(request: Request, kind: str, body: dict, principal: Principal, spec_for, **state) -> dict:
    """Record the declaration, write its chain spec (the code location reloads), record the chain's job."""
    svc = service(request)
    obj = declare(request, kind, body, principal, status="declaring")
    name = chain_name(kind, obj)
    job = write_chain(svc, spec_for(name))
    return svc.objects(kind).update_state(obj["id"], status="ready", chain=name, job_name=job, **state)


def _conditions_met(conditions: dict, data: dict) -> tuple[bool, str]:
    order = {"low": 0, "normal": 1, "medium": 1, "high": 2, "critical": 3}
    for key, want in conditions.items():
        got = data.get(key)
        if key == "priority" and want in order and got in order:
            if order[got] < order[want]:
                return False, f"priority {got} is below {want}"
        elif got != want:
            return False, f"{key} is {got!r}, the automation waits for {want!r}"
    return True, "every condition holds"


def routers():
    w = APIRouter(prefix="/api/v3/ai-workflows", tags=["ai-workflows"])

    @w.get("/templates")
    async def workflow_templates(principal: Principal = Depends(require("runs:read"))) -> dict[str, str]:
        """The templates a workflow is declared from."""
        return WORKFLOW_TEMPLATES

    @w.post("", response_model=Declared, status_code=201)
    async def create_workflow(
        body: WorkflowIn, request: Request, principal: Principal = Depends(require("runs:launch"))
    ):
        """Declare a workflow: a chain spec (from the template) that the code location loads."""
        template = body.template_name or "content_generation"
        if template not in WORKFLOW_TEMPLATES:
            raise Problem(
                422, "invalid_request", f"unknown template {template!r}: one of {', '.join(WORKFLOW_TEMPLATES)}"
            )
        fields = {**body.model_dump(), "template_name": template}
        return await run_in_threadpool(
            _declare_chain, request, "ai_workflow", fields, principal, lambda name: workflow_spec(name, fields)
        )

    @w.get("/stats", response_model=Stats)
    async def workflow_stats(request: Request, principal: Principal = Depends(require("runs:read"))):
        svc = service(request)
        return {
            "declared": svc.objects("ai_workflow").count(),
            "runs": await run_in_threadpool(runs_by_status, svc.platform, "workflow_api_"),
            "all_workflow_runs": await run_in_threadpool(runs_by_status, svc.platform, "workflow_"),
        }

    @w.get("/{workflow_id}", response_model=Declared)
    async def get_workflow(workflow_id: str, request: Request, principal: Principal = Depends(require("runs:read"))):
        return get_declared(request, "ai_workflow", workflow_id)

    @w.post("/{workflow_id}/execute", response_model=RunRef, status_code=202)
    async def execute(workflow_id: str, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """Launch the workflow's chain job; follow it on /runs/{run_id} or the workflow's WebSocket room."""
        obj = get_declared(request, "ai_workflow", workflow_id)
        return await run_in_threadpool(
            _launch_workflow, service(request), obj, "workflow", _tags("input", obj.get("input_data") or {})
        )

    a = APIRouter(prefix="/api/v3/automations", tags=["automations"])

    @a.get("/templates")
    async def automation_templates(principal: Principal = Depends(require("runs:read"))) -> dict[str, str]:
        """The actions an automation is made of."""
        return AUTOMATION_TEMPLATES

    @a.post("", response_model=Declared, status_code=201)
    async def create_automation(
        body: AutomationIn, request: Request, principal: Principal = Depends(require("runs:launch"))
    ):
        """Declare an automation: its actions become a chain; its trigger conditions are checked on /trigger."""
        fields = body.model_dump()
        return await run_in_threadpool(
            _declare_chain,
            request,
            "automation",
            fields,
            principal,
            lambda name: automation_spec(name, fields),
            triggered=0,
        )

    @a.get("/stats", response_model=Stats)
    async def automation_stats(request: Request, principal: Principal = Depends(require("runs:read"))):
        svc = service(request)
        autos = svc.objects("automation").list(1000)
        return {
            "declared": len(autos),
            "triggered": sum(int(x.get("triggered") or 0) for x in autos),
            "runs": await run_in_threadpool(runs_by_status, svc.platform, None, ("dwc/api", "automation")),
        }

    @a.get("/{automation_id}", response_model=Declared)
    async def get_automation(
        automation_id: str, request: Request, principal: Principal = Depends(require("runs:read"))
    ):
        return get_declared(request, "automation", automation_id)

    @a.post("/{automation_id}/trigger", response_model=Triggered)
    async def trigger(
        automation_id: str, body: TriggerIn, request: Request, principal: Principal = Depends(require("runs:launch"))
    ):
        """Check the trigger's conditions against the event; when they hold, launch the automation's job."""
        svc = service(request)
        obj = get_declared(request, "automation", automation_id)
        ok, reason = _conditions_met((obj.get("trigger") or {}).get("conditions") or {}, body.trigger_data)
        if not ok:
            return {"triggered": False, "reason": reason, "run": None}
        tags = {**_tags("trigger", body.trigger_data), **_tags("context", body.context)}
        run = await run_in_threadpool(_launch_workflow, svc, obj, "automation", tags)
        svc.objects("automation").update_state(automation_id, triggered=int(obj.get("triggered") or 0) + 1)
        return {"triggered": True, "reason": reason, "run": run}

    adv = APIRouter(prefix="/api/v3/advanced", tags=["advanced"])

    @adv.post("/ai/generate", response_model=Generated)
    async def generate(body: GenerateIn, request: Request, principal: Principal = Depends(require("ai:generate"))):
        """Text from the configured OpenAI-compatible endpoint (DWC_LLM_MODEL, DWC_LLM_API_KEY, DWC_LLM_BASE_URL)."""
        ai = service(request).platform.llm()
        if ai is None:
            raise Problem(
                503,
                "llm_unavailable",
                "no language model is configured: the offline provider extracts and classifies but does not write "
                "text; set DWC_LLM_MODEL and DWC_LLM_API_KEY (and DWC_LLM_BASE_URL for any OpenAI-compatible server)",
            )

        def call():
            client = ai.client()
            outcome = client.chat_json(
                [
                    {"role": "system", "content": 'Answer with a JSON object {"text": ...}.'},
                    {"role": "user", "content": body.prompt},
                ],
                {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
                temperature=0.2,
            )
            if not outcome.ok:
                raise Problem(502, "upstream_error", f"the language model gave no usable answer: {outcome.error}")
            return {
                "text": outcome.value["text"],
                "provider": "llm",
                "model": ai.model,
                "usage": client.usage.as_metadata(),
            }

        try:
            return await run_in_threadpool(call)
        except Problem:
            raise
        except Exception as exc:
            raise Problem(
                502, "upstream_error", f"the language model failed: {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc

    @adv.post("/workflows/execute", response_model=RunRef, status_code=202)
    async def advanced_execute(
        body: ExecuteIn, request: Request, principal: Principal = Depends(require("runs:launch"))
    ):
        """Execute a declared workflow (or automation) with parameters as run tags."""
        svc = service(request)
        kind = "automation" if body.workflow_id.startswith("automation_") else "ai_workflow"
        obj = get_declared(request, kind, body.workflow_id)
        return await run_in_threadpool(_launch_workflow, svc, obj, "workflow", _tags("param", body.parameters))

    @adv.post("/notifications/send", status_code=202)
    async def notify(body: NotifyIn, request: Request, principal: Principal = Depends(require("notify:send"))) -> dict:
        """Send through the notification resource (idempotent per request id; unconfigured channels say so)."""
        from dwc_resources.notify import Message

        notifications = service(request).platform.resource("notifications")
        message = Message(
            subject=body.subject,
            body=body.message,
            idempotency_key=f"api:{request.state.request_id}",
            source="api",
            to=[body.recipient] if body.recipient else [],
        )
        deliveries = await run_in_threadpool(notifications.send, message, [body.channel])
        return {"deliveries": [{"channel": d.channel, "status": d.status, "error": d.error} for d in deliveries]}

    @adv.get("/analytics/summary")
    async def analytics(
        request: Request,
        time_range: str = Query("day", pattern="^(hour|day|week|month)$"),
        principal: Principal = Depends(require("metrics:read")),
    ) -> dict:
        """Documents ingested and quarantined, runs by status and API requests over the time range."""
        svc = service(request)
        since = (
            datetime.now(UTC)
            - {
                "hour": timedelta(hours=1),
                "day": timedelta(days=1),
                "week": timedelta(weeks=1),
                "month": timedelta(days=30),
            }[time_range]
        )

        def lake():
            try:
                with svc.platform.reader(masked=True) as con:
                    cutoff = since.replace(tzinfo=None)
                    docs = con.execute(
                        "SELECT format, count(*) FROM docs.documents WHERE ingested_at >= ? GROUP BY 1 ORDER BY 2 DESC",
                        [cutoff],
                    ).fetchall()
                    quarantined = con.execute(
                        "SELECT reason_code, count(*) FROM docs.quarantine WHERE quarantined_at >= ? GROUP BY 1 ORDER BY 2 DESC",
                        [cutoff],
                    ).fetchall()
                return {"documents_by_format": dict(docs), "quarantined_by_reason": dict(quarantined)}
            except Problem as exc:
                return {"lake": exc.detail}

        def runs():
            import dagster as dg

            counts: dict[str, int] = {}
            for rec in svc.platform.instance.get_run_records(filters=dg.RunsFilter(created_after=since), limit=5000):
                counts[rec.dagster_run.status.value] = counts.get(rec.dagster_run.status.value, 0) + 1
            return counts

        def requests_():
            import sqlalchemy as sa

            from .. import store

            with svc.engine.connect() as con:
                return dict(
                    con.execute(
                        sa.select(store.audit_log.c.outcome, sa.func.count())
                        .where(store.audit_log.c.at >= since.timestamp())
                        .group_by(store.audit_log.c.outcome)
                    ).all()
                )

        return {
            "time_range": time_range,
            "since": since.isoformat(timespec="seconds"),
            **await run_in_threadpool(lake),
            "runs_by_status": await run_in_threadpool(runs),
            "audited_requests_by_outcome": await run_in_threadpool(requests_),
            "generated_at": time.time(),
        }

    return [w, a, adv]
