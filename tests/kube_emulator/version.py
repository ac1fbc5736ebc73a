"""The Kubernetes version the emulator reports and validates against.

It is the version of the kind node image the kind scenario pins (molecule/default/molecule.yml,
``molecule_kind_node_image``; tests/unit/test_kubernetes_version.py keeps the two equal), and one
CloudNativePG 1.30 supports: 1.34, 1.35 and 1.36 (cloudnative-pg v1.30.0,
docs/src/supported_releases.md; 1.30-1.33 are only listed as tested). The image
kindest/node:v1.36.1 is the default node image of kind v0.32.0
(kubernetes-sigs/kind v0.32.0, pkg/apis/config/defaults/image.go), which the workflow installs.
"""

KUBERNETES_VERSION = "v1.36.1"
# kubernetes-validate (requirements-test.txt) ships one schema set per minor release, as
# kubernetes-json-schema/v1.36.0-local; a patch release does not change the API.
SCHEMA_VERSION = "v1.36.0"
CNPG_SUPPORTED_MINORS = ("1.34", "1.35", "1.36")
