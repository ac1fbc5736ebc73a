# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Plugins import after DOCUMENTATION/EXAMPLES/RETURN.
# ruff: noqa: E402

DOCUMENTATION = r"""
name: template
author:
  - apocrathia (@apocrathia)
version_added: 0.2.0
short_description: Render templates like ansible.builtin.template, without copying every variable per file
description:
  - "Returns one string per template file, the file rendered with Jinja2, exactly as the
    P(ansible.builtin.template#lookup) lookup renders it: the same search path, the same variables
    (every variable of the task, C(template_path), C(template_fullpath), C(template_mtime),
    C(template_uid), C(template_host), C(template_run_date), C(ansible_managed) and O(template_vars)),
    the same options."
  - "The only difference is cost: C(ansible.builtin.template) deep-copies all of the task's variables
    (role defaults, registered results, facts) for every file before adding its own, which takes
    tens of milliseconds per file; this lookup lays those variables under a separate layer for them
    instead (ansible-core's own code says it could be a ChainMap). Templates cannot change the
    task's variables either way."
  - With an ansible-core whose template lookup this one does not know (before 2.19), it renders
    with C(ansible.builtin.template) itself.
options:
  _terms:
    description: Template files, found like those of C(ansible.builtin.template) (a role's C(templates/) first).
    type: list
    elements: str
    required: true
  variable_start_string:
    description: The string marking the beginning of a print statement.
    default: '{{'
    type: str
  variable_end_string:
    description: The string marking the end of a print statement.
    default: '}}'
    type: str
  comment_start_string:
    description: The string marking the beginning of a comment statement.
    default: '{#'
    type: str
  comment_end_string:
    description: The string marking the end of a comment statement.
    default: '#}'
    type: str
  template_vars:
    description: A dictionary, the keys become additional variables available for templating.
    default: {}
    type: dict
  trim_blocks:
    description: Whether the first newline after a block is removed (block, not variable tag).
    type: bool
    default: true
seealso:
  - plugin: ansible.builtin.template
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Apply a role's manifests
  apocrathia.mlflow.k8s_objects:
    definitions: "{{ query('apocrathia.mlflow.template', 'cluster.yml.j2', 'networkpolicy.yml.j2') | map('from_yaml') | list }}"
"""

RETURN = r"""
_raw:
  description: Each file's content after templating, in order.
  type: list
  elements: raw
"""

import os
from collections import ChainMap

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

# ansible-core 2.19+'s templating, as ansible.builtin.template's lookup uses it; without it the
# builtin lookup does the work.
try:
    from ansible._internal._templating import _template_vars
    from ansible._internal._templating._engine import TemplateOptions, TemplateOverrides
    from ansible.template import trust_as_template

    HAS_TEMPLATING = True
except ImportError:
    HAS_TEMPLATING = False

display = Display()


class LookupModule(LookupBase):
    """ansible.builtin.template's lookup (ansible-core 2.19+, lib/ansible/plugins/lookup/template.py)
    with its per-file ``deepcopy(variables)`` replaced by a ChainMap whose top layer takes the
    template's own variables (its "FIXME: why isn't this a chainmap with a sacrificial bottom layer?")."""

    def run(self, terms, variables=None, **kwargs):
        if not HAS_TEMPLATING:
            builtin = lookup_loader.get("ansible.builtin.template", loader=self._loader, templar=self._templar)
            return builtin.run(terms, variables=variables, **kwargs)

        variables = variables if variables is not None else {}
        self.set_options(var_options=variables, direct=kwargs)
        lookup_template_vars = self.get_option("template_vars")
        overrides = TemplateOverrides.from_kwargs(
            dict(
                variable_start_string=self.get_option("variable_start_string"),
                variable_end_string=self.get_option("variable_end_string"),
                comment_start_string=self.get_option("comment_start_string"),
                comment_end_string=self.get_option("comment_end_string"),
                trim_blocks=self.get_option("trim_blocks"),
            )
        )

        ret = []
        for term in terms:
            display.debug("File lookup term: %s" % term)
            lookupfile = self.find_file_in_search_path(variables, "templates", term)
            display.vvvv("File lookup using %s as file" % lookupfile)
            if not lookupfile:
                raise AnsibleError("the template file %s could not be found for the lookup" % term)
            template_data = trust_as_template(self._loader.get_text_file_contents(lookupfile))

            # Jinja's search path for includes: each search path's templates/ directory and the
            # path itself, after the template's own directory.
            searchpath = []
            for path in variables.get("ansible_search_path", []) or []:
                searchpath.extend([os.path.join(path, "templates"), path])
            searchpath.insert(0, os.path.dirname(lookupfile))

            own = {}
            own.update(
                _template_vars.generate_ansible_template_vars(
                    path=term,
                    fullpath=lookupfile,
                    include_ansible_managed="ansible_managed" not in variables,
                )
            )
            own.update(lookup_template_vars)
            data_templar = self._templar.copy_with_new_env(
                available_variables=ChainMap(own, variables), searchpath=searchpath
            )
            ret.append(
                data_templar._engine.template(
                    template_data, options=TemplateOptions(escape_backslashes=False, overrides=overrides)
                )
            )
        return ret
