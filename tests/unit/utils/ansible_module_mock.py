# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive an AnsibleModule in-process, in the style of kubernetes.core's unit tests.

``set_module_args`` feeds arguments the way ansible-playbook would, and the patched
``exit_json``/``fail_json`` raise so a test can inspect what the module returned.
"""

import contextlib
import json
import tempfile

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class AnsibleExitJson(Exception):
    """Raised by the patched exit_json; ``.args[0]`` is the module's result."""


class AnsibleFailJson(Exception):
    """Raised by the patched fail_json; ``.args[0]`` is the module's result."""


def exit_json(*args, **kwargs):
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def fail_json(*args, **kwargs):
    kwargs["failed"] = True
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args):
    """Make ``args`` the arguments the next AnsibleModule reads (ansible-core 2.19+ and older)."""
    args = dict(args)
    args.setdefault("_ansible_remote_tmp", tempfile.gettempdir())
    args.setdefault("_ansible_keep_remote_files", False)
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        serialized = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        with _patched(basic, "_ANSIBLE_ARGS", serialized):
            yield
    else:
        with patch_module_args(args):
            yield


@contextlib.contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def patched_exit_fail():
    """Patch AnsibleModule.exit_json/fail_json to raise AnsibleExitJson/AnsibleFailJson."""
    with _patched(basic.AnsibleModule, "exit_json", exit_json), _patched(basic.AnsibleModule, "fail_json", fail_json):
        yield


def run_main(main, args, check_mode=False):
    """Run a module's ``main`` with ``args``: ("exit", result) or ("fail", result)."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with set_module_args(args), patched_exit_fail():
        try:
            main()
        except AnsibleExitJson as e:
            return "exit", e.args[0]
        except AnsibleFailJson as e:
            return "fail", e.args[0]
    raise AssertionError("module returned without exit_json/fail_json")
