# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Kubernetes client, errors and retry policy shared by every Kubernetes module of the collection.

Built on kubernetes.core's client (``get_api_client``: kubeconfig, context, host, api_key,
K8S_AUTH_* ...) and its connection options (``AUTH_ARG_SPEC``), so every module connects the
way kubernetes.core's own modules do.

Public API (keep it small; other module_utils and the modules build on it):

``auth_argspec(**options)``
    kubernetes.core's connection options plus ``options``: a module's ``argument_spec``.
``k8s_module(argument_spec, supports_check_mode=True)``
    An ``AnsibleK8SModule`` (it checks that the kubernetes library is installed).
``connect(module=None, max_retries=5, sleep=None, auth=None)``
    kubernetes.core's ``K8SClient`` for the module's connection options, or for ``auth`` (an
    action plugin's options) without a module (``get_api_client``, looked up here so tests can
    replace it); discovery failures that are worth retrying are retried.
    Raises ``K8sError`` with the reason; kubernetes.core's ``CoreException`` passes through.
``call(func, verb="request", what="the Kubernetes API", max_retries=5, sleep=None, deadline=None, clock=time.monotonic)``
    ``func()`` under the retry policy; exceptions of the kubernetes client become ``ApiError``
    (raised at once when not retryable), and ``Unavailable`` ends a run of retryable failures.
``request(client, method, path, verb="request", **params)``
    One raw HTTP request (``serialize=False``: the urllib3 response) through a ``K8SClient`` or
    its dynamic client, errors translated to ``ApiError``; not retried (wrap it in ``call``).
``ApiError(status, reason, message, verb, body=None)``
    A failed API call; ``status`` is None for a dropped or refused connection. ``.retryable``;
    ``.body`` is the raw answer, ``.message`` the Status message in it.
``K8sError``
    A failure a module reports as is: ``str(error)`` is the message. ``ApiError`` and
    ``Unavailable`` are ``K8sError``.
``Unavailable``
    Retryable failures went on past ``max_retries``.
``translate_error(error, verb)``
    ``ApiError`` for the kubernetes client's API errors and for connection errors, else ``error``.
``retryable(error)``
    The retry policy, below.
``backoff(attempt, base=RETRY_BASE_DELAY, cap=RETRY_MAX_DELAY)``
    Seconds to wait before retry ``attempt`` (the collection's one formula, module_utils/backoff.py).
``CoreException``
    kubernetes.core's error type, for ``module.fail_from_exception``.

Retry policy, the same for every call: 429 (throttled), 5xx and dropped or refused connections
are retried, ``DEFAULT_MAX_RETRIES`` times in a row with exponential backoff from
``RETRY_BASE_DELAY`` to ``RETRY_MAX_DELAY`` seconds, bounded by an optional deadline. A 409 on
a ``create`` is retried too: the object appeared meanwhile (another writer, or our own create
whose answer was lost), so ``func`` is called again and should read the object again and update
it. Nothing else is retried: 400, 401, 403, 404, 409 on other verbs and 422 fail at once, since
repeating the same request cannot change the answer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time

from ansible_collections.apocrathia.mlflow.plugins.module_utils.backoff import backoff as _backoff
from ansible_collections.kubernetes.core.plugins.module_utils.ansiblemodule import (
    AnsibleModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
    get_api_client,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (  # noqa: F401 - for the modules
    CoreException,
)

# Consecutive failed calls tolerated before giving up, and the backoff between them.
DEFAULT_MAX_RETRIES = 5
RETRY_BASE_DELAY = 0.1
RETRY_MAX_DELAY = 2.0


# --------------------------------------------------------------------------------------------
# Module wiring
# --------------------------------------------------------------------------------------------


def auth_argspec(**options):
    """kubernetes.core's connection options (kubeconfig, context, host, api_key, ...) plus ``options``."""
    args = copy.deepcopy(AUTH_ARG_SPEC)
    args.update(options)
    return args


def k8s_module(argument_spec, supports_check_mode=True):
    """An AnsibleK8SModule (checks the kubernetes library); check mode is supported unless told otherwise."""
    return AnsibleK8SModule(
        module_class=AnsibleModule, argument_spec=argument_spec, supports_check_mode=supports_check_mode
    )


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class K8sError(Exception):
    """A failure the module reports as is: ``str(self)`` is the message."""


class ApiError(K8sError):
    """A failed API call. ``status`` is None for connection errors; ``verb`` is what was being done."""

    def __init__(self, status, reason, message, verb, body=None):
        self.status = status
        self.body = body
        self.reason = reason
        self.message = message
        self.verb = verb
        super(ApiError, self).__init__(
            "{0} {1}: {2}".format(status if status is not None else "connection error", reason or "", message or "")
        )

    @property
    def retryable(self):
        return retryable(self)


class Unavailable(K8sError):
    """Retryable failures went on past the allowed number of retries (or the deadline)."""


def retryable(error):
    """The retry policy: 429, 5xx, connection errors, and a 409 that a ``create`` or an ``apply`` lost
    (another writer created the object first; a forced apply has no field conflicts). Never 403 or 422."""
    if not isinstance(error, ApiError):
        return False
    status = error.status
    if status is None or status == 429 or status >= 500:
        return True
    return status == 409 and error.verb in ("create", "apply")


def error_message(body):
    """The ``message`` of a Kubernetes Status body, or the body itself (cut), or None."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, dict) and data.get("message"):
        return data["message"]
    return body.strip()[:500]


def _client_error_types():
    """(ApiException, urllib3 HTTPError), None for a missing library.

    ``ApiException`` is the base of the dynamic client's ``DynamicApiError`` types too.
    """
    try:
        from kubernetes.client.exceptions import ApiException
    except ImportError:  # the modules report the missing library through AnsibleK8SModule
        ApiException = None
    try:
        from urllib3.exceptions import HTTPError as Urllib3HTTPError
    except ImportError:
        Urllib3HTTPError = None
    return ApiException, Urllib3HTTPError


def translate_error(error, verb):
    """``ApiError`` for kubernetes client API errors and connection errors; other exceptions unchanged."""
    if isinstance(error, ApiError):
        return error
    ApiException, Urllib3HTTPError = _client_error_types()
    status = getattr(error, "status", None)
    if ApiException is not None and isinstance(error, ApiException) and isinstance(status, int) and status:
        body = getattr(error, "body", None)
        return ApiError(status, getattr(error, "reason", None), error_message(body), verb, body)
    if (
        isinstance(error, OSError)
        or (Urllib3HTTPError is not None and isinstance(error, Urllib3HTTPError))
        or (ApiException is not None and isinstance(error, ApiException))
    ):
        # OSError covers refused and reset connections; an ApiException without a status is the
        # client's wrapping of a connection failure.
        return ApiError(None, type(error).__name__, str(error), verb)
    return error


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


def backoff(attempt, base=RETRY_BASE_DELAY, cap=RETRY_MAX_DELAY):
    """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
    return _backoff(attempt, base, cap)


def call(
    func,
    verb="request",
    what="the Kubernetes API",
    max_retries=DEFAULT_MAX_RETRIES,
    sleep=None,
    deadline=None,
    clock=time.monotonic,
):
    """``func()``, retried under the policy. ``verb`` and ``what`` name the call in errors.

    Exceptions of the kubernetes client become ``ApiError`` (with ``verb``); a non-retryable one
    is raised at once. After ``max_retries`` retries in a row, or at ``deadline`` (a ``clock()``
    value), ``Unavailable`` is raised, with the last ``ApiError`` as its cause.
    """
    sleep = sleep or time.sleep
    failures = 0
    while True:
        try:
            return func()
        except Exception as e:  # noqa: BLE001 - API and connection errors are translated, others re-raised
            error = translate_error(e, verb)
            if not isinstance(error, ApiError):
                raise
            if not retryable(error):
                if error is e:
                    raise
                raise error from e
            if error is not e:
                error.__cause__ = e
            failures += 1
            if failures > max_retries or (deadline is not None and clock() >= deadline):
                raise Unavailable(
                    "The Kubernetes API failed {0} times in a row ({1} {2}): {3}".format(
                        failures, error.verb, what, error
                    )
                ) from error
            delay = backoff(failures)
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - clock()))
            sleep(delay)


def request(client, method, path, verb="request", **params):
    """One raw request (``serialize=False``: the urllib3 response) through ``client``, not retried.

    ``client`` is kubernetes.core's ``K8SClient`` or its dynamic client (``K8SClient.client``).
    Errors are raised as ``ApiError`` (with ``verb``).
    """
    # K8SClient has no request(); its dynamic client (which has) is K8SClient.client.
    dynamic = client if hasattr(client, "request") else client.client
    try:
        return dynamic.request(method, path, serialize=False, **params)
    except Exception as e:  # noqa: BLE001 - API and connection errors are translated, others re-raised
        error = translate_error(e, verb)
        if error is e:
            raise
        raise error from e


def connect(module=None, max_retries=DEFAULT_MAX_RETRIES, sleep=None, auth=None):
    """kubernetes.core's ``K8SClient`` for the module's connection options, retried under the policy.

    Without ``module`` (an action plugin, in the controller), ``auth`` holds the connection
    options given (``{option: value}``, kubernetes.core reads K8S_AUTH_* for the others).
    kubernetes.core reads the API server's discovery documents while building the client, so
    an API server that is still starting (5xx, refused connection) is waited for. Raises
    ``K8sError`` with the reason; kubernetes.core's ``CoreException`` (bad kubeconfig) passes through.
    """
    options = {"module": module} if module is not None else dict(auth or {})
    try:
        return call(lambda: get_api_client(**options), "discover", "the API", max_retries, sleep)
    except Unavailable as e:
        raise K8sError(
            "Could not connect to the Kubernetes API after {0} attempts: {1}".format(max_retries + 1, e.__cause__)
        ) from e
    except ApiError as e:
        raise K8sError("Could not connect to the Kubernetes API: {0}".format(e)) from e
