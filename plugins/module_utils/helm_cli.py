# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What apocrathia.mlflow.helm_release decides and runs, without Ansible: whether the release
already runs the final values, and helm's command lines.

The command lines are argument lists (no shell, no quoting), with the values on helm's standard
input as JSON (``--values -``, pkg/cli/values/options.go reads "-" from stdin in helm 3 and 4),
so no values file is written. The flags are the ones kubernetes.core.helm (6.x, plugins/modules/helm.py
``deploy()``) gives for the same options, including helm 4's renames: ``--atomic`` became
``--rollback-on-failure`` (helm 4 removed it from ``install`` and deprecated it on ``upgrade``).
The unit tests prove both majors (tests/unit/plugins/module_utils/test_helm_cli.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import tarfile

try:  # PyYAML comes with ansible-core on the controller, where this runs
    import yaml
except ImportError:  # pragma: no cover - only ansible-test's bare import check
    yaml = None

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")

# The connection options helm takes (as kubernetes.core.helm does, with its K8S_AUTH_* fallbacks,
# plugins/module_utils/helm_args_common.py HELM_AUTH_ARG_SPEC). The other Kubernetes options of the
# group's module_defaults have no helm equivalent: they belong in the kubeconfig.
HELM_AUTH_ENV_FALLBACK = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
}
NOT_FOR_HELM = (
    "username",
    "password",
    "client_cert",
    "client_key",
    "proxy",
    "no_proxy",
    "proxy_headers",
    "persist_config",
    "impersonate_user",
    "impersonate_groups",
)


def helm_major(version_output):
    """The major version in ``helm version --template {{.Version}}`` (v3.18.0 -> 3); ValueError when none."""
    match = _VERSION.search(version_output or "")
    if not match:
        raise ValueError("cannot read helm's version from {0!r}".format(version_output))
    return int(match.group(1))


def auth_settings(args, environ=None):
    """The connection options helm gets: those given, else the K8S_AUTH_* variables kubernetes.core.helm reads.

    Raises ValueError for an option helm cannot take (client certificates, user names, proxies,
    impersonation: put them in the kubeconfig).
    """
    environ = os.environ if environ is None else environ
    unusable = sorted(name for name in NOT_FOR_HELM if args.get(name) not in (None, [], {}))
    if unusable:
        raise ValueError(
            "helm takes the cluster from a kubeconfig, context, host, api_key, ca_cert and validate_certs only; "
            "put {0} in the kubeconfig instead.".format(", ".join(unusable))
        )
    settings = {}
    for name, variable in HELM_AUTH_ENV_FALLBACK.items():
        value = args.get(name)
        if value is None and environ.get(variable):
            value = environ[variable]
            if name == "validate_certs":
                value = value.strip().lower() not in ("0", "false", "no", "off", "n", "f")
        if value is not None:
            settings[name] = value
    if isinstance(settings.get("kubeconfig"), str):
        settings["kubeconfig"] = os.path.expanduser(settings["kubeconfig"])
    return settings


# The helm variables kubernetes.core.helm sets for the same options (its module_utils/helm.py) with a
# helm of 3.10 or newer, as both pinned helms are.
HELM_ENV_FOR = (
    ("context", "HELM_KUBECONTEXT"),
    ("api_key", "HELM_KUBETOKEN"),
    ("host", "HELM_KUBEAPISERVER"),
    ("ca_cert", "HELM_KUBECAFILE"),
)


def helm_environment(settings, write_kubeconfig, sensitive_values):
    """``(variables, secrets)`` for a helm command from ``auth_settings``: the variables to add to its
    environment, and the values that must not appear in output.

    An in-memory kubeconfig (a dict) goes to the file ``write_kubeconfig(kubeconfig)`` returns;
    ``sensitive_values(kubeconfig)`` lists its tokens, keys and passwords (kubernetes.core's
    ``extract_sensitive_values_from_kubeconfig``).
    """
    variables = {env: str(settings[name]) for name, env in HELM_ENV_FOR if settings.get(name)}
    if settings.get("validate_certs") is False:
        variables["HELM_KUBEINSECURE_SKIP_TLS_VERIFY"] = "true"
    secrets = [settings["api_key"]] if settings.get("api_key") else []
    kubeconfig = settings.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        variables["KUBECONFIG"] = write_kubeconfig(kubeconfig)
        secrets += [value for value in sensitive_values(kubeconfig) if isinstance(value, str) and value]
    elif kubeconfig:
        variables["KUBECONFIG"] = kubeconfig
    return variables, secrets


def chart_args(chart_repo_url=None, chart_version=None):
    args = []
    if chart_repo_url:
        args += ["--repo", chart_repo_url]
    if chart_version:
        args += ["--version", str(chart_version)]
    return args


def template_argv(binary, name, namespace, chart_ref, chart_repo_url=None, chart_version=None):
    """``helm template``: renders the chart with the values (on stdin), checking them against its values.schema.json."""
    return [binary, "template", name, chart_ref, "--namespace", namespace, "--values", "-"] + chart_args(
        chart_repo_url, chart_version
    )


def upgrade_argv(
    binary,
    major,
    name,
    namespace,
    chart_ref,
    chart_repo_url=None,
    chart_version=None,
    wait=False,
    timeout=None,
    atomic=False,
    reset_values=True,
):
    """``helm upgrade --install`` with the values on stdin and the release printed as JSON.

    ``major``: helm's major version (``--atomic`` is ``--rollback-on-failure`` from helm 4 on).
    """
    argv = [binary, "upgrade", name, chart_ref, "--install", "--namespace", namespace, "--values", "-"]
    argv += chart_args(chart_repo_url, chart_version)
    if reset_values:
        argv.append("--reset-values")
    if wait:
        argv.append("--wait")
    if atomic:
        argv.append("--rollback-on-failure" if major >= 4 else "--atomic")
    if timeout:
        argv += ["--timeout", str(timeout)]
    argv += ["--output", "json"]
    return argv


def values_document(values):
    """The values as helm reads them on stdin: JSON, which is YAML whose every string is quoted, so
    helm's YAML parser cannot take a string such as "1e3" or "on" for a number or a boolean."""
    return json.dumps(values, sort_keys=True)


def chart_name_version(chart_ref, chart_version=None):
    """The chart as Helm's release records name it, ``<name>-<version>``, for what would be installed;
    None when it cannot be known without fetching it (no version given for a repository chart).

    A local directory or packaged chart (.tgz) is read; otherwise the chart is the last part of the
    reference (``oci://host/charts/mlflow`` or the name given with a repository URL) at ``chart_version``.
    """
    metadata = None
    if os.path.isdir(chart_ref):
        path = os.path.join(chart_ref, "Chart.yaml")
        if os.path.isfile(path):
            with open(path) as handle:
                metadata = yaml.safe_load(handle)
    elif os.path.isfile(chart_ref):
        metadata = _packaged_chart(chart_ref)
    elif chart_version:
        return "{0}-{1}".format(chart_ref.rstrip("/").split("/")[-1], chart_version)
    if not isinstance(metadata, dict) or not metadata.get("name") or not metadata.get("version"):
        return None
    return "{0}-{1}".format(metadata["name"], metadata["version"])


def _packaged_chart(path):
    """Chart.yaml of a packaged chart (``<chart>/Chart.yaml`` at the archive's top), or None."""
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    return yaml.safe_load(archive.extractfile(member))
    except (tarfile.TarError, OSError, yaml.YAMLError):
        return None
    return None


def is_unchanged(current, chart, values):
    """Whether the release already runs ``chart`` (``<name>-<version>``) with exactly these values
    (what kubernetes.core.helm checks without helm-diff, ``default_check``): deployed, same chart, same values.

    ``current``: the release as the helm_release filter reads it from Helm's Secrets ({} when absent).
    """
    return bool(
        current
        and current.get("status") == "deployed"
        and chart is not None
        and current.get("chart") == chart
        and (current.get("values") or {}) == values
    )


def repositories_file(environ, helm_env_output=None):
    """helm's repository configuration file: HELM_REPOSITORY_CONFIG, else repositories.yaml in
    HELM_CONFIG_HOME, else what ``helm env`` says (``helm_env_output``: a callable giving its output,
    asked only then; helm's default depends on the platform, pkg/helmpath/lazypath_*.go)."""
    if environ.get("HELM_REPOSITORY_CONFIG"):
        return environ["HELM_REPOSITORY_CONFIG"]
    if environ.get("HELM_CONFIG_HOME"):
        return os.path.join(environ["HELM_CONFIG_HOME"], "repositories.yaml")
    for line in (helm_env_output() if helm_env_output else "").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "HELM_REPOSITORY_CONFIG":
            return value.strip().strip('"')
    return None


def repository_url(path, name):
    """The URL of repository ``name`` in helm's repository file ``path``, or None when it has none."""
    if not path or not os.path.isfile(path):
        return None
    with open(path) as handle:
        config = yaml.safe_load(handle) or {}
    for repository in config.get("repositories") or []:
        if isinstance(repository, dict) and repository.get("name") == name:
            return repository.get("url")
    return None


def repo_add_argv(binary, name, url):
    return [binary, "repo", "add", name, url]


def failure_message(verb, namespace, name, chart, current, atomic, stderr):
    """What a failed ``helm upgrade --install`` did, and what runs now."""
    parts = ["Helm could not {0} release {1}/{2} (chart {3}).".format(verb, namespace, name, chart)]
    if atomic and current:
        parts.append("The upgrade was rolled back: revision {0} is still what runs.".format(current.get("revision")))
    elif atomic:
        parts.append("Helm removed what the failed install had created.")
    parts.append("Helm said: {0}".format((stderr or "").strip()))
    return " ".join(parts)


def argument_spec():
    """The options of apocrathia.mlflow.helm_release (the action plugin and its documentation module).

    The connection options are kubernetes.core's (AUTH_ARG_SPEC), so module_defaults of the group
    group/apocrathia.mlflow.kubernetes apply; helm uses those of HELM_AUTH_ENV_FALLBACK.
    """
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        chart_ref=dict(type="str", required=True),
        chart_repo_url=dict(type="str"),
        chart_version=dict(type="str"),
        chart_repo_name=dict(type="str"),
        values=dict(type="dict", default={}),
        values_overrides=dict(type="list", elements="dict", default=[]),
        values_description=dict(type="str", default="The values"),
        values_checks=dict(
            type="dict",
            options=dict(
                extra=dict(type="dict", default={}),
                extra_env=dict(type="dict", default={}),
                db_max_connections=dict(type="int", required=True),
                db_reserved_connections=dict(type="int", required=True),
                artifacts_store=dict(type="str", default="pvc"),
                pvc_access_modes=dict(type="list", elements="str", default=["ReadWriteOnce"]),
            ),
        ),
        release=dict(type="dict"),
        validate=dict(type="bool", default=True),
        validate_only=dict(type="bool", default=False),
        wait=dict(type="bool", default=False),
        timeout=dict(type="str"),
        atomic=dict(type="bool", default=False),
        reset_values=dict(type="bool", default=True),
        binary_path=dict(type="path"),
    )
    return spec
