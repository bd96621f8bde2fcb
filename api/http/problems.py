"""RFC 9457 problem details: every error the API returns has this one shape.

`type` names the kind of problem, `detail` says what happened, `hint` how to fix it,
and `errors` lists each offending field with its own message.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from core.errors import DataError, HubError, TransientError

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://l2c-hub.dev/problems/"
STATUS_OF = {
    "config": 422,
    "data": 422,
    "not_found": 404,
    "conflict": 409,
    "transient": 503,
    "forbidden": 403,
}
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class FieldProblem(BaseModel):
    field: str = Field(examples=["body.name"], description="Dotted path of the offending input.")
    message: str
    code: str = Field(examples=["missing"])
    hint: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["https://l2c-hub.dev/problems/validation"])
    title: str = Field(examples=["Unprocessable request"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["body.name: Field required"])
    instance: str | None = Field(default=None, examples=["/v1/connections"])
    hint: str | None = Field(default=None, examples=["send a name of 1-64 characters"])
    errors: list[FieldProblem] = Field(default_factory=list)
    request_id: str | None = None


def problem(
    request: Request | None,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    hint: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (kind or str(status)),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if hint:
        body["hint"] = hint
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


def _fix_for(code: str, ctx: dict[str, Any] | None) -> str | None:
    hints = {
        "missing": "add this field",
        "extra_forbidden": "remove this field: it is not part of the resource",
        "uuid_parsing": "send a UUID such as 0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
        "string_too_long": "shorten it to at most {max_length} characters",
        "string_too_short": "send at least {min_length} characters",
        "less_than_equal": "send a value of at most {le}",
        "greater_than_equal": "send a value of at least {ge}",
        "json_invalid": "send a valid JSON document",
        "enum": "use one of: {expected}",
        "literal_error": "use one of: {expected}",
    }
    template = hints.get(code)
    if template is None:
        return None
    try:
        return template.format(**(ctx or {}))
    except (KeyError, IndexError):
        return template.split(":")[0]


def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(
            {
                "field": field,
                "message": message,
                "code": str(err.get("type", "invalid")),
                "hint": _fix_for(str(err.get("type")), err.get("ctx")),
            }
        )
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    detail = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(request, 422, detail, kind="validation", errors=errors)


def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    status = STATUS_OF.get(exc.category, 500)
    errors = None
    field = exc.field if isinstance(exc, DataError) else exc.details.get("field")
    if isinstance(field, str) and field:
        code = exc.code if isinstance(exc, DataError) else exc.category
        errors = [{"field": field, "message": exc.message, "code": code, "hint": exc.hint}]
    headers = {"Retry-After": "30"} if isinstance(exc, TransientError) else None
    return problem(
        request,
        status,
        exc.message,
        kind=exc.category,
        hint=exc.hint,
        errors=errors,
        headers=headers,
    )


def _allowed(request: Request) -> str:
    """Every method the path answers, from the app's own OpenAPI (Starlette's own 405
    names only the methods of the first route matching the path)."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        paths = request.app.openapi()["paths"].items()
        table = [  # literal paths first: /replay is not /{id}
            (compile_path(path)[0], sorted(m.upper() for m in item if m != "parameters"))
            for path, item in sorted(paths, key=lambda p: p[0].count("{"))
        ]
        request.app.state.allowed_methods = table
    return ", ".join(
        next((methods for pattern, methods in table if pattern.match(request.url.path)), [])
    )


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed(request) or headers.get("Allow", "")
        return problem(
            request,
            405,
            f"{request.method} is not allowed here",
            hint=f"use {headers['Allow']}",
            headers=headers,
        )
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    hint = None
    if exc.status_code == 404 and detail == "Not Found":
        detail, hint = f"no such endpoint: {request.url.path}", "see /docs for the API"
    return problem(request, exc.status_code, detail, headers=headers or None, hint=hint)


def _permission(request: Request, _exc: Exception) -> Response:
    return problem(request, 404, "not found in this tenant", kind="not_found")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PermissionError, _permission)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": TITLES[status]}
    for status in (400, 401, 403, 404, 409, 422)
}
"""Documented on every /v1 operation."""
