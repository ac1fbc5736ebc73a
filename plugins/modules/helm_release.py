#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# ruff: noqa: E402

DOCUMENTATION = r"""
module: helm_release

short_description: Check values against a chart and install or upgrade a Helm release, from the controller

version_added: 0.2.0

author:
  - apocrathia (@apocrathia)

description:
  - Merges O(values_overrides) recursively over O(values), in order (as C(combine(recursive=True)) does
    - dicts merge key by key, lists are replaced), and checks the result with O(values_checks).
  - Decides from O(release) whether the release already runs this chart with exactly these
    values (deployed, same C(<chart>-<version>), same values). Then it runs nothing and reports
    RV(action=unchanged).
  - Otherwise, with O(validate), renders the chart with the values (C(helm
    template)), so Helm checks them against the chart's C(values.schema.json) before anything changes.
  - Then runs C(helm upgrade --install) once, with the values on helm's standard input as JSON (no
    values file is written; strings stay strings), C(--reset-values), C(--wait) and C(--timeout), and with O(atomic) C(--atomic) (helm 3)
    or C(--rollback-on-failure) (helm 4).
  - A failure says what Helm could not do, whether the upgrade was rolled back (and which revision
    still runs) and what Helm said.
  - "This is an action plugin: it runs helm on the controller, with the controller's environment
    (C(HELM_*) variables included); the task's C(environment) keyword does not reach it. The
    connection options are those of M(kubernetes.core.helm) (its C(K8S_AUTH_*) variables too), mapped
    to helm's environment by kubernetes.core's own code; set them with module_defaults
    C(group/apocrathia.mlflow.kubernetes)."

options:
  name:
    description: Name of the release.
    type: str
    required: true
  namespace:
    description: Namespace of the release.
    type: str
    required: true
  chart_ref:
    description:
      - The chart - a chart name with O(chart_repo_url), an C(oci://) reference, or the path of a chart
        directory or packaged chart (C(.tgz)).
    type: str
    required: true
  chart_repo_url:
    description: URL of the chart repository (C(helm --repo)); the chart is fetched from it directly.
    type: str
  chart_repo_name:
    description:
      - With O(chart_repo_url), also keep the repository under this name in helm's repository
        configuration (for the user's own C(helm) commands), as M(kubernetes.core.helm_repository)
        does - C(helm repo add) when it is missing, a failure when the name has another URL. The
        configuration file is read (C(HELM_REPOSITORY_CONFIG), C(HELM_CONFIG_HOME), else C(helm env)),
        so nothing runs when the repository is there. Not with O(validate_only).
    type: str
  chart_version:
    description:
      - Version of a repository or OCI chart (C(helm --version)). Without it, or for a version range,
        the release is always upgraded, as the chart cannot be named without fetching it.
    type: str
  values:
    description: The release's values.
    type: dict
    default: {}
  values_overrides:
    description: Values merged recursively over O(values), in order; the last one wins.
    type: list
    elements: dict
    default: []
  values_description:
    description: How messages name the values (for example which variables they are built from).
    type: str
    default: The values
  values_checks:
    description:
      - Check the final values of the community-charts mlflow chart before anything else (the checks
        of the P(apocrathia.mlflow.mlflow_values_problems#filter) filter) - replicas x workers x (pool +
        overflow) within the PostgreSQL connection budget, and one pod at a time on a volume that is
        not ReadWriteMany. The task fails with one message per problem, naming the variable to change.
    type: dict
    suboptions:
      extra:
        description: The override the user gave, to name it when it set a value.
        type: dict
        default: {}
      extra_env:
        description: Extra environment variables of the server, to name them when they set a pool size.
        type: dict
        default: {}
      db_max_connections:
        description: PostgreSQL C(max_connections).
        type: int
        required: true
      db_reserved_connections:
        description: Connections kept for the operator, superusers and admins.
        type: int
        required: true
      artifacts_store:
        description: Where artifacts are stored; only V(pvc) has a volume.
        type: str
        default: pvc
      pvc_access_modes:
        description: Access modes of the artifact volume.
        type: list
        elements: str
        default: [ReadWriteOnce]
  release:
    description:
      - The release as it runs, as M(apocrathia.mlflow.k8s_objects) reads it with
        O(apocrathia.mlflow.k8s_objects#module:lookups[].helm_release) (RV(apocrathia.mlflow.k8s_objects#module:lookups[].release))
        or the P(apocrathia.mlflow.helm_release#filter) filter decodes it; V({}) when it is not installed.
      - Without it the release is not compared, so it is always upgraded.
    type: dict
  validate:
    description:
      - Render the chart with the values (C(helm template)) before an install or upgrade (or, with
        O(validate_only), instead of it), unless the release is unchanged.
    type: bool
    default: true
  validate_only:
    description:
      - Only check - merge and check the values and, with O(validate), render the chart with them;
        nothing is installed. Runs in check mode too (rendering writes nothing).
    type: bool
    default: false
  wait:
    description: Wait until the release's resources are ready (C(helm --wait)).
    type: bool
    default: false
  timeout:
    description: How long helm waits, a duration such as V(600s) (C(helm --timeout)).
    type: str
  atomic:
    description: Roll a failed upgrade back, remove a failed install (C(--atomic), on helm 4 C(--rollback-on-failure)).
    type: bool
    default: false
  reset_values:
    description: Start from the chart's values, not the last release's (C(helm --reset-values)).
    type: bool
    default: true
  binary_path:
    description: The helm binary; by default C(helm) on the controller's C(PATH).
    type: path

extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - apocrathia.mlflow.controller_action

attributes:
  check_mode:
    support: full
    description:
      - Reports the install or upgrade it would run (RV(action=planned)) without running it. With
        O(validate_only) it renders the chart as it does outside check mode.
  diff_mode:
    support: full
    description: The release's values before and after, as YAML.

requirements:
  - "helm >= 3.8 on the controller (helm 3 and helm 4)"
  - "the kubernetes.core collection"

notes:
  - Of the connection options, helm takes O(kubeconfig), O(context), O(host), O(api_key), O(ca_cert) and
    O(validate_certs); the others fail the task (put them in the kubeconfig).
  - Returns the values (RV(final_values)); keep secrets out of them (the mlflow_helm role gives Secret names only).

seealso:
  - module: kubernetes.core.helm
  - module: kubernetes.core.helm_template
  - module: apocrathia.mlflow.k8s_objects
"""

EXAMPLES = r"""
- name: Read the release
  apocrathia.mlflow.k8s_objects:
    lookups:
      - key: release
        api_version: v1
        kind: Secret
        namespace: mlflow
        label_selector: owner=helm,name=mlflow
        helm_release: true
  register: found

- name: Install or upgrade MLflow
  apocrathia.mlflow.helm_release:
    name: mlflow
    namespace: mlflow
    chart_ref: mlflow
    chart_repo_url: https://community-charts.github.io/helm-charts
    chart_version: 1.11.5
    values: "{{ lookup('ansible.builtin.template', 'values.yml.j2') | from_yaml }}"
    values_overrides:
      - "{{ mlflow_helm_values_extra }}"
    release: "{{ found.found.release.release }}"
    wait: true
    timeout: 600s
    atomic: true
  register: release
"""

RETURN = r"""
action:
  description:
    - V(unchanged) (nothing run), V(validated) (O(validate_only)), V(planned) (check mode),
      V(installed) or V(upgraded).
  returned: success
  type: str
  sample: upgraded
final_values:
  description:
    - The final values (O(values) with O(values_overrides) merged over them).
    - Not returned when O(values_checks) refuses them, since they may hold the credential refused.
  returned: unless O(values_checks) refuses the values
  type: dict
problems:
  description: The problems O(values_checks) found, one message each (RV(ignore:msg) has them one a line).
  returned: when O(values_checks) refuses the values
  type: list
  elements: str
status:
  description:
    - The release after this call, as the P(apocrathia.mlflow.helm_release#filter) filter reads it,
      with the values it runs with (key C(values)).
  returned: when the release is unchanged, installed or upgraded
  type: dict
  contains:
    name:
      description: Release name.
      type: str
    namespace:
      description: Release namespace.
      type: str
    revision:
      description: Revision, as a string.
      type: str
    status:
      description: Helm's status of the revision (V(deployed), V(failed), ...).
      type: str
    updated:
      description: When the revision was deployed.
      type: str
    chart:
      description: C(<chart>-<version>).
      type: str
    app_version:
      description: The chart's C(appVersion).
      type: str
repository:
  description: The chart repository of O(chart_repo_name).
  returned: when O(chart_repo_name) and O(chart_repo_url) are given, without O(validate_only)
  type: dict
  contains:
    name:
      description: O(chart_repo_name).
      type: str
    url:
      description: O(chart_repo_url).
      type: str
    action:
      description: V(unchanged), V(added) or V(planned) (check mode).
      type: str
commands:
  description: The helm command lines run, each an argument list; empty when the release is unchanged.
  returned: always
  type: list
  elements: list
stdout:
  description: The manifests C(helm template) rendered.
  returned: when the chart was rendered (O(validate))
  type: str
stderr:
  description: What helm printed on its error output.
  returned: when helm failed
  type: str
rolled_back:
  description: Whether Helm undid the failed install or upgrade (O(atomic)).
  returned: when helm upgrade failed
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.apocrathia.mlflow.plugins.module_utils.helm_cli import argument_spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="apocrathia.mlflow.helm_release runs as an action plugin; its module file only documents it.")


if __name__ == "__main__":
    main()
