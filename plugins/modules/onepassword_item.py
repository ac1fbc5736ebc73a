#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: apocrathia.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Ansible puts the documentation before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: onepassword_item
short_description: Read the fields of a 1Password item with a service account
version_added: 0.1.0
description:
  - Reads fields of a 1Password item with the official 1Password Python SDK, authenticated as a
    service account. No C(op) CLI and no 1Password Connect server are needed.
  - Select the values either with O(vault) and O(item) (and optionally O(fields) and
    O(section)), or with a list of secret O(references).
  - Every value read is added to the module's no-log set, so it is masked in warnings, error
    messages and logs. Set C(no_log) to V(true) on the task as well, because Ansible shows the
    returned values of a task that does not.
  - Error messages name what is wrong (token, vault, item, field, reference) on one line, and
    never contain the token or a secret value.
author:
  - apocrathia (@apocrathia)
options:
  vault:
    description:
      - Title or ID of the vault that holds O(item).
      - Required with O(item). Mutually exclusive with O(references).
    type: str
  item:
    description:
      - Title or ID of the item to read.
      - An ID is matched first, then a title. A title shared by several items is an error.
    type: str
  fields:
    description:
      - Labels (or IDs) of the fields to read from O(item).
      - If not set, every field of the item (or of O(section)) is read; the labels must then be unique.
      - A label that matches several fields is an error; set O(section) to choose one.
    type: list
    elements: str
  section:
    description:
      - Title or ID of the item section that O(fields) are read from.
    type: str
  references:
    description:
      - Secret references of the form C(op://<vault>/<item>/[<section>/]<field>), resolved in one
        call to 1Password.
      - The returned RV(fields) are keyed by reference.
      - Mutually exclusive with O(vault), O(item), O(fields) and O(section).
    type: list
    elements: str
extends_documentation_fragment:
  - apocrathia.mlflow.onepassword
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same way in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so it has no diff to show.
requirements:
  - python >= 3.9
  - onepassword-sdk
seealso:
  - name: 1Password Python SDK
    description: The official SDK this module uses.
    link: https://github.com/1Password/onepassword-sdk-python
  - name: 1Password service accounts
    description: How to create a service account and its token.
    link: https://developer.1password.com/docs/service-accounts/
  - name: Secret reference syntax
    description: The format of O(references).
    link: https://developer.1password.com/docs/cli/secret-reference-syntax/
"""

EXAMPLES = r"""
- name: Read the MLflow database credentials from 1Password
  apocrathia.mlflow.onepassword_item:
    service_account_token: "{{ mlflow_secrets_onepassword_token }}"
    vault: Secrets
    item: mlflow-secrets
    fields:
      - username
      - password
  register: __mlflow_secrets_item
  no_log: true

- name: Read the fields of one section, with the token from OP_SERVICE_ACCOUNT_TOKEN
  apocrathia.mlflow.onepassword_item:
    vault: Secrets
    item: mlflow-secrets
    section: S3
  register: __mlflow_s3
  no_log: true

- name: Resolve secret references from several items at once
  apocrathia.mlflow.onepassword_item:
    references:
      - op://Secrets/mlflow-secrets/password
      - op://Secrets/authentik/OIDC/client_secret
  register: __mlflow_refs
  no_log: true

- name: Use a value
  ansible.builtin.set_fact:
    mlflow_db_password: "{{ __mlflow_refs.fields['op://Secrets/mlflow-secrets/password'] }}"
  no_log: true
"""

RETURN = r"""
fields:
  description:
    - The values read. Keyed by field label (as given in O(fields)) when O(item) is used, by
      secret reference when O(references) is used.
  returned: success
  type: dict
  sample:
    username: mlflow
    password: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER
id:
  description: ID of the item read. With O(references), set only when they all point to one item.
  returned: success
  type: str
  sample: 2fwfzpvjvaey2lwph5jupovjaq
title:
  description: Title of the item read. With O(references), set only when they all point to one item.
  returned: success
  type: str
  sample: mlflow-secrets
vault_id:
  description: ID of the vault of the item read. With O(references), set only when they all point to one item.
  returned: success
  type: str
  sample: dm42px5dmgusczoarfdubfmodm
version:
  description:
    - Version of the item read; it increases at every change, so it can trigger a rollout.
    - With O(references), set only when they all point to one item.
  returned: success
  type: int
  sample: 7
updated_at:
  description: When the item was last changed (ISO 8601, UTC). With O(references), set only when they all point to one item.
  returned: success
  type: str
  sample: "2026-11-20T09:14:03Z"
items_read:
  description: Identity and version of every item read (no secret in them).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Item ID.
      type: str
    title:
      description: Item title.
      type: str
    vault_id:
      description: Vault ID.
      type: str
    version:
      description: Item version.
      type: int
    updated_at:
      description: Last change (ISO 8601, UTC).
      type: str
sdk_calls:
  description: Number of calls made to 1Password, retries included (for audit and rate-limit budgeting).
  returned: success
  type: int
  sample: 4
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.apocrathia.mlflow.plugins.module_utils.onepassword import (
    OnePasswordError,
    OnePasswordSession,
    check_requirements,
    onepassword_argument_spec,
    read_item,
    read_references,
    run,
)


def main():
    argument_spec = onepassword_argument_spec()
    argument_spec.update(
        vault=dict(type="str"),
        item=dict(type="str"),
        fields=dict(type="list", elements="str"),
        section=dict(type="str"),
        references=dict(type="list", elements="str"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[
            ("references", "vault"),
            ("references", "item"),
            ("references", "fields"),
            ("references", "section"),
        ],
        required_one_of=[("references", "item")],
        required_together=[("vault", "item")],
    )
    check_requirements(module)
    params = module.params
    for name, minimum in (("timeout", 1), ("retries", 0), ("retry_delay", 0)):
        if params[name] < minimum:
            module.fail_json(msg="{0} must be {1} or more".format(name, minimum))

    # Values learned are redacted from every message (and masked by fail_json) from now on.
    learned = module.no_log_values
    session = OnePasswordSession(
        params["service_account_token"],
        integration_name=params["integration_name"],
        integration_version=params["integration_version"],
        timeout=params["timeout"],
        retries=params["retries"],
        retry_delay=params["retry_delay"],
        secrets=learned,
    )
    try:
        if params["references"] is not None:
            references = list(dict.fromkeys(params["references"]))
            if not references:
                module.fail_json(msg="references is empty: give at least one op:// reference")
            fields, items = run(read_references(session, references, on_secret=learned.add))
        else:
            fields, items = run(
                read_item(session, params["vault"], params["item"], params["fields"], params["section"])
            )
    except OnePasswordError as exc:
        module.fail_json(msg=str(exc), kind=exc.kind)

    values = set(v for v in fields.values() if v)
    learned.update(values)
    result = dict(changed=False, fields=fields, items_read=items, sdk_calls=session.calls)
    single = items[0] if len(items) == 1 else {}
    for key in ("id", "title", "vault_id", "version", "updated_at"):
        result[key] = single.get(key)
    # exit_json masks every no-log value in the result, which would also mask the values the
    # caller asked for; they leave the no-log set only for this return.
    learned.difference_update(values - {params["service_account_token"]})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
