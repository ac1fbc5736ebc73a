"""`make lint` must catch a module whose documentation disagrees with its argument spec.

Runs the same ansible-test validate-modules that `make sanity` runs, on a scratch copy of the
collection with two probe modules: one documented correctly, one with an undocumented option.
"""

import shutil
import subprocess
import sys

from tests.support.paths import REPO_ROOT, VENV_BIN, tool_env

MODULE_TEMPLATE = '''#!/usr/bin/python
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: {name}
short_description: Probe module for the documentation drift test
version_added: 0.1.0
description: A probe.
author: apocrathia.mlflow developers (@apocrathia)
options:
  name:
    description: A name.
    type: str
    required: true
"""

EXAMPLES = r"""
- apocrathia.mlflow.{name}:
    name: x
"""

RETURN = r"""
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(name=dict(type="str", required=True){extra}))
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
'''


def test_validate_modules_rejects_undocumented_option(tmp_path):
    collection = tmp_path / "ansible_collections" / "apocrathia" / "mlflow"
    collection.mkdir(parents=True)
    for item in ("galaxy.yml", "meta", "LICENSE"):
        src = REPO_ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, collection / item)
    modules = collection / "plugins" / "modules"
    modules.mkdir(parents=True)
    (modules / "probe_documented.py").write_text(MODULE_TEMPLATE.format(name="probe_documented", extra=""))
    (modules / "probe_drifted.py").write_text(
        MODULE_TEMPLATE.format(name="probe_drifted", extra=', retries=dict(type="int", default=3)')
    )
    python = "%d.%d" % sys.version_info[:2]
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-test"), "sanity", "--python", python, "--test", "validate-modules", "plugins/"],
        cwd=collection,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    drift_lines = [line for line in proc.stdout.splitlines() if "undocumented-parameter" in line]
    assert any("probe_drifted.py" in line and "retries" in line for line in drift_lines), proc.stdout
    # The correctly documented module is not reported: the check is about drift, not noise.
    assert "probe_documented.py" not in proc.stdout, proc.stdout
