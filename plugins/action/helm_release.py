# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apocrathia.mlflow.helm_release: a Helm release installed or upgraded from the controller.

An action plugin, not a module: kubernetes.core.helm and helm_template are modules, so each task
starts a Python interpreter and imports kubernetes.core anew, then runs helm about six times
(version, list, show chart, upgrade, list, get values); on the emulator that is 1.2 s for a
0.35 s ``helm upgrade``. Here the release as Helm stored it (its Secrets, read by the role's
object engine call) decides "unchanged" in Python, and helm runs once per need: ``helm
template`` for the schema check, ``helm version`` and ``helm upgrade --install`` for a change.
The decisions, command lines and connection environment (the variables kubernetes.core.helm sets
for the same options) are module_utils/helm_cli.py (unit-tested); the documentation is
plugins/modules/helm_release.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import tempfile

import yaml
from ansible.errors import AnsibleActionFail
from ansible.utils.vars import merge_hash
from ansible_collections.apocrathia.mlflow.plugins.module_utils import helm_cli, helm_release
from ansible_collections.apocrathia.mlflow.plugins.plugin_utils.controller_action import ControllerAction

try:
    from ansible_collections.apocrathia.mlflow.plugins.filter.mlflow_checks import mlflow_values_problems
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
        extract_sensitive_values_from_kubeconfig,
    )

    IMPORT_ERROR = None
except ImportError as e:  # reported when a task runs
    IMPORT_ERROR = e


def _plain(value):
    """Plain Python values (templated arguments come as Ansible's tagged subclasses)."""
    return json.loads(json.dumps(value))


def _run(argv, env, data=None):
    proc = subprocess.run(argv, input=data, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _chart_label(args):
    label = args["chart_ref"]
    if args.get("chart_version"):
        label += " " + args["chart_version"]
    if args.get("chart_repo_url"):
        label += " from " + args["chart_repo_url"]
    return label


def _release_json(stdout):
    """The release ``--output json`` printed (after any registry progress lines), or {}."""
    for start, line in enumerate(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads("\n".join(stdout.splitlines()[start:]))
            except ValueError:
                return {}
    return {}


def _binary(args):
    binary = args["binary_path"] or shutil.which("helm")
    if not binary:
        raise AnsibleActionFail("helm is not on the controller's PATH; install it, or set binary_path.")
    return binary


class ActionModule(ControllerAction):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._arguments(helm_cli.argument_spec, IMPORT_ERROR, "the kubernetes.core collection")
        # As the combine(recursive=True) filter merges: dicts key by key, lists replaced.
        values = _plain(args["values"]) or {}
        for override in _plain(args["values_overrides"]):
            values = merge_hash(values, override or {}, recursive=True, list_merge="replace")
        result.update(final_values=values, commands=[])

        checks = args["values_checks"]
        if checks:
            problems = mlflow_values_problems(values, **_plain(checks))
            if problems:
                # The values are not returned: they may hold the very credential that was refused.
                del result["final_values"]
                result.update(failed=True, msg="\n".join(problems), problems=problems)
                return result

        if args["chart_repo_name"] and args["chart_repo_url"] and not args["validate_only"]:
            self._repository(result, args)
            if result.get("failed"):
                return result

        current = None
        if args["release"] is not None:
            current = _plain(args["release"])
        chart = helm_cli.chart_name_version(args["chart_ref"], args["chart_version"])
        if current is not None and helm_cli.is_unchanged(current, chart, values):
            result.update(changed=bool(result.get("changed")), action="unchanged", status=current)
            return result

        binary = _binary(args)
        try:
            settings = helm_cli.auth_settings(args)
        except ValueError as e:
            raise AnsibleActionFail(str(e)) from e
        # An in-memory kubeconfig lives in a private directory for the length of this task only.
        with tempfile.TemporaryDirectory(prefix="apocrathia-mlflow-helm-") as private:

            def write_kubeconfig(kubeconfig):
                path = os.path.join(private, "kubeconfig")
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    json.dump(kubeconfig, handle)
                return path

            variables, hide = helm_cli.helm_environment(
                settings, write_kubeconfig, extract_sensitive_values_from_kubeconfig
            )
            return self._release(result, args, values, current, chart, binary, dict(os.environ, **variables), hide)

    def _repository(self, result, args):
        """The chart repository under its name in helm's configuration (for the user's own helm
        commands; the release is fetched with --repo), added when missing, as
        kubernetes.core.helm_repository does; nothing runs when it is there."""
        binary = _binary(args)
        name, url = args["chart_repo_name"], args["chart_repo_url"].rstrip("/")
        path = helm_cli.repositories_file(os.environ, lambda: _run([binary, "env"], dict(os.environ))[1])
        found = helm_cli.repository_url(path, name)
        result["repository"] = {"name": name, "url": url, "action": "unchanged"}
        if found is not None and found.rstrip("/") != url:
            result.update(
                failed=True,
                msg="Helm already has a repository named {0}, with URL {1}, not {2}: remove it (helm repo remove {0}), "
                "or choose another name.".format(name, found, url),
            )
        elif found is None and self._task.check_mode:
            result["repository"]["action"] = "planned"
            result["changed"] = True
        elif found is None:
            argv = helm_cli.repo_add_argv(binary, name, url)
            rc, out, err = _run(argv, dict(os.environ))
            result["commands"].append(argv)
            if rc != 0:
                result.update(failed=True, stderr=err, msg="helm could not add repository {0} ({1}): {2}".format(
                    name, url, err.strip()))  # fmt: skip
            else:
                result["repository"]["action"] = "added"
                result["changed"] = True

    def _release(self, result, args, values, current, chart, binary, env, hide):
        def masked(text):
            for secret in hide:
                text = text.replace(secret, "********")
            return text

        name, namespace = args["name"], args["namespace"]
        data = helm_cli.values_document(values)
        if args["validate"]:
            argv = helm_cli.template_argv(
                binary, name, namespace, args["chart_ref"], args["chart_repo_url"], args["chart_version"]
            )
            rc, out, err = _run(argv, env, data)
            result["commands"].append(argv)
            if rc != 0:
                result.update(
                    failed=True,
                    stderr=masked(err),
                    msg="{0} are not valid for chart {1}: {2}".format(
                        args["values_description"], _chart_label(args), masked(err).strip()
                    ),
                )
                return result
            result["stdout"] = masked(out)
        if args["validate_only"]:
            result.update(changed=False, action="validated")
            return result

        if self._task.check_mode:
            result.update(changed=True, action="planned")
            self._add_diff(result, current, values)
            return result

        major = 3
        if args["atomic"]:
            rc, out, err = _run([binary, "version", "--template", "{{.Version}}"], env)
            result["commands"].append([binary, "version", "--template", "{{.Version}}"])
            try:
                major = helm_cli.helm_major(out)
            except ValueError as e:
                raise AnsibleActionFail("{0} (stderr: {1})".format(e, err.strip())) from e
        argv = helm_cli.upgrade_argv(
            binary,
            major,
            name,
            namespace,
            args["chart_ref"],
            chart_repo_url=args["chart_repo_url"],
            chart_version=args["chart_version"],
            wait=args["wait"],
            timeout=args["timeout"],
            atomic=args["atomic"],
            reset_values=args["reset_values"],
        )
        rc, out, err = _run(argv, env, data)
        result["commands"].append(argv)
        if rc != 0:
            verb = "upgrade" if current else ("install" if current is not None else "install or upgrade")
            result.update(
                failed=True,
                rolled_back=bool(args["atomic"]),
                stderr=masked(err),
                msg=masked(
                    helm_cli.failure_message(verb, namespace, name, _chart_label(args), current, args["atomic"], err)
                ),
            )
            return result
        release = _release_json(out)
        result.update(
            changed=True,
            action="upgraded" if current else "installed",
            status=helm_release.summary(release) if release else {},
        )
        self._add_diff(result, current, values)
        return result

    def _add_diff(self, result, current, values):
        if not self._task.diff:
            return
        before = (current or {}).get("values") if current else None
        result["diff"] = {
            "before_header": "release values (revision {0})".format(current.get("revision"))
            if current
            else "no release",
            "after_header": "release values",
            "before": yaml.safe_dump(before, default_flow_style=False, sort_keys=True) if before is not None else "",
            "after": yaml.safe_dump(values, default_flow_style=False, sort_keys=True),
        }
