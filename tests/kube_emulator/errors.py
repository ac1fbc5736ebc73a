"""API errors, rendered as the `Status` objects a real API server returns."""

import json

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(code, message, reason=None, details=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _field(path):
    """A managedFields path as the API server prints it: .spec.containers[name="web"].image"""
    out = ""
    for part in path:
        kind, _, value = part.partition(":")
        if kind == "f":
            out += "." + value
        elif kind == "k":
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(value).items()) + "]"
        elif kind == "v":
            out += f"[{value}]"
    return out


class ApiError(Exception):
    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason, details)

    @staticmethod
    def _details(rt, name):
        details = {"name": name or "", "kind": rt.plural if rt else ""}
        if rt and rt.group:
            details["group"] = rt.group
        return details

    @classmethod
    def not_found(cls, rt, name):
        return cls(404, f'{rt.qualified} "{name}" not found', details=cls._details(rt, name))

    @classmethod
    def namespace_not_found(cls, namespace):
        return cls(404, f'namespaces "{namespace}" not found', details={"name": namespace, "kind": "namespaces"})

    @classmethod
    def already_exists(cls, rt, name):
        return cls(409, f'{rt.qualified} "{name}" already exists', "AlreadyExists", cls._details(rt, name))

    @classmethod
    def conflict(cls, rt, name):
        message = (
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        return cls(409, message, "Conflict", cls._details(rt, name))

    @classmethod
    def invalid(cls, rt, name, causes):
        text = ", ".join(f"{c['field']}: {c['message']}" if c["field"] else c["message"] for c in causes)
        details = dict(cls._details(rt, name), kind=rt.kind, causes=list(causes))
        if len(causes) > 1:
            text = f"[{text}]"
        return cls(422, f'{rt.kind_qualified()} "{name}" is invalid: {text}', "Invalid", details)

    @classmethod
    def strict(cls, rt, unknown):
        fields = ", ".join(f'unknown field "{f}"' for f in unknown)
        message = (
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {fields}'
        )
        return cls(400, message)

    @classmethod
    def bad_request(cls, message):
        return cls(400, message)

    @classmethod
    def unprocessable_patch(cls, message):
        return cls(422, message, "Invalid")

    @classmethod
    def forbidden(cls, verb, rt, name, namespace):
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        what = f'{rt.plural} "{name}"' if name else rt.plural
        message = f'{what} is forbidden: User "system:anonymous" cannot {verb} resource "{rt.plural}" in API group "{rt.group}"{where}'
        return cls(403, message, details=cls._details(rt, name))

    @classmethod
    def apply_conflict(cls, conflicts, applied):
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f'conflict with "{manager}"',
                "field": _field(path),
            }
            for manager, path in conflicts
        ]
        text = "; ".join(f"{c['message']}: {c['field']}" for c in causes)
        name = (applied.get("metadata") or {}).get("name", "")
        return cls(
            409, f"Apply failed with {len(causes)} conflict(s): {text}", "Conflict", {"name": name, "causes": causes}
        )
