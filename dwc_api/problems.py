"""Errors as RFC 9457 problem details (application/problem+json), each with a stable `type`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

TYPE_BASE = "https://dwc.invalid/problems/"  # documented in docs/api.md; stable, not dereferenced

_TITLES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
}


class ProblemDetail(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict] | None = None


class Problem(Exception):
    def __init__(self, status: int, slug: str, detail: str, headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status, self.slug, self.detail, self.headers, self.extra = status, slug, detail, headers or {}, extra


def problem_response(request: Request, status: int, slug: str, detail: str | None, headers=None, **extra):
    body = {
        "type": TYPE_BASE + slug,
        "title": slug.replace("_", " "),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


# Shown in the OpenAPI schema for every operation.
PROBLEM_RESPONSES = {
    code: {"model": ProblemDetail, "content": {"application/problem+json": {}}, "description": _TITLES[code]}
    for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        request.state.problem = exc.slug
        return problem_response(request, exc.status, exc.slug, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        slug = _TITLES.get(exc.status_code, "error")
        return problem_response(request, exc.status_code, slug, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem_response(request, 422, "invalid_request", "the request does not match the schema", errors=errors)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        import logging

        logging.getLogger("dwc_api").exception("unhandled error on %s", request.url.path)
        return problem_response(request, 500, "internal_error", f"{type(exc).__name__}: see the service log")
