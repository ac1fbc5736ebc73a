"""apocrathia.mlflow.template renders what ansible.builtin.template renders, through ansible-playbook.

The lookup exists only to skip the builtin's deep copy of every variable per file
(plugins/lookup/template.py); these tests hold it to the builtin's output for what the roles'
templates use (role variables rendered lazily, nested data, loops, includes, template_vars,
template_path, other delimiters) and check that a template cannot change the task's variables.
"""

import json

import pytest

from tests.support.ansible_run import run_playbook, write_inventory

MANIFEST = """\
# {{ ansible_managed is defined }} {{ template_path | basename }} {{ template_fullpath | basename }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ derived }}
  labels:
{% for key, value in labels.items() %}
    {{ key }}: "{{ value }}"
{% endfor %}
data:
  nested: "{{ nested.a.b }}"
  extra: "{{ extra | default('none') }}"
  count: "{{ items | length }}"
{% set nested = {'a': {'b': 'changed inside the template'}} %}
  after_set: "{{ nested.a.b }}"
{% include 'part.j2' %}
"""
PART = '  part: "{{ base | upper }}"\n'
BRACKETS = "value: [% base %] and {{ kept }}\n"
PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  vars:
    base: mlflow
    derived: "{{ base ~ '-settings' }}"
    nested: {a: {b: deep}}
    labels: {app.kubernetes.io/name: mlflow, tier: "{{ base }}"}
    items: [1, 2, 3]
  tasks:
    - name: Render with both lookups
      ansible.builtin.set_fact:
        builtin: "{{ query('ansible.builtin.template', 'manifest.yml.j2', 'manifest.yml.j2',
                     template_vars={'extra': 'given'}) }}"
        ours: "{{ query('apocrathia.mlflow.template', 'manifest.yml.j2', 'manifest.yml.j2',
                  template_vars={'extra': 'given'}) }}"
        builtin_brackets: "{{ lookup('ansible.builtin.template', 'brackets.j2', variable_start_string='[%',
                              variable_end_string='%]') }}"
        ours_brackets: "{{ lookup('apocrathia.mlflow.template', 'brackets.j2', variable_start_string='[%',
                           variable_end_string='%]') }}"
    - name: Render a missing file with ours
      ansible.builtin.set_fact:
        missing: "{{ lookup('apocrathia.mlflow.template', 'missing.j2') }}"
      ignore_errors: true
      register: missing_ours
    - name: Render a missing file with the builtin
      ansible.builtin.set_fact:
        missing: "{{ lookup('ansible.builtin.template', 'missing.j2') }}"
      ignore_errors: true
      register: missing_builtin
    - name: Write what was rendered
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'builtin': builtin, 'ours': ours, 'builtin_brackets': builtin_brackets,
                      'ours_brackets': ours_brackets, 'nested_after': nested, 'derived_after': derived,
                      'missing_ours': missing_ours.msg, 'missing_builtin': missing_builtin.msg} | to_json }}"
        mode: "0600"
"""


@pytest.mark.slow
def test_renders_what_the_builtin_renders(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "manifest.yml.j2").write_text(MANIFEST)
    (tmp_path / "templates" / "part.j2").write_text(PART)
    (tmp_path / "templates" / "brackets.j2").write_text(BRACKETS)
    playbook = tmp_path / "render.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    run = run_playbook(
        playbook, inventory=write_inventory(tmp_path / "hosts.yml", {}), extra_vars={"out": str(out), "kept": "x"}
    )
    assert run.rc == 0, run.output[-3000:]
    rendered = json.loads(out.read_text())

    assert rendered["ours"] == rendered["builtin"]
    assert len(rendered["ours"]) == 2
    text = rendered["ours"][0]
    assert "True manifest.yml.j2 manifest.yml.j2" in text
    assert "name: mlflow-settings" in text and 'tier: "mlflow"' in text
    assert 'nested: "deep"' in text and 'extra: "given"' in text and 'count: "3"' in text
    assert 'after_set: "changed inside the template"' in text and 'part: "MLFLOW"' in text

    assert rendered["ours_brackets"] == rendered["builtin_brackets"] == "value: mlflow and {{ kept }}\n"
    # The task's variables are as they were: a template's {% set %} stays in the template.
    assert rendered["nested_after"] == {"a": {"b": "deep"}}
    assert rendered["derived_after"] == "mlflow-settings"
    assert "the template file missing.j2 could not be found for the lookup" in rendered["missing_ours"]
    assert "the template file missing.j2 could not be found for the lookup" in rendered["missing_builtin"]
