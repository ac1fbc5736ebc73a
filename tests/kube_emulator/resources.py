"""The resource types the emulator serves: a table of built-ins, plus whatever CRDs register."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple = ()
    status: bool = True  # has a status subresource
    generation: bool = True  # metadata.generation is tracked (objects with a spec)
    crd: str | None = None  # name of the CRD that registered it
    schema: dict | None = field(default=None, compare=False, hash=False)  # openAPIV3Schema for CRDs
    printer_columns: tuple = field(default=(), compare=False, hash=False)
    categories: tuple = ()
    # compiled schema and validator, kept with the type (a CRD's type lives and dies with its emulator)
    cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self):
        return self.kind.lower()

    @property
    def key(self):
        """Storage identity: every served version of a resource shares one store."""
        return (self.group, self.plural)

    @property
    def qualified(self):
        """`deployments.apps`, as the API server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def kind_qualified(self):
        return f"{self.kind}.{self.group}" if self.group else self.kind


_ALL = {"pods", "services", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs"}


def _rt(gv, kind, plural, namespaced=True, short=(), status=True, generation=True):
    group, _, version = gv.rpartition("/")
    categories = ("all",) if plural in _ALL else ()
    return ResourceType(
        group, version, kind, plural, namespaced, tuple(short), status, generation, categories=categories
    )


BUILTINS = [
    _rt("v1", "Namespace", "namespaces", False, ["ns"], generation=False),
    _rt("v1", "ConfigMap", "configmaps", short=["cm"], status=False, generation=False),
    _rt("v1", "Secret", "secrets", status=False, generation=False),
    _rt("v1", "Service", "services", short=["svc"], generation=False),
    _rt("v1", "ServiceAccount", "serviceaccounts", short=["sa"], status=False, generation=False),
    _rt("v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"], generation=False),
    _rt("v1", "PersistentVolume", "persistentvolumes", False, ["pv"], generation=False),
    _rt("v1", "Pod", "pods", short=["po"], generation=False),
    _rt("v1", "Endpoints", "endpoints", short=["ep"], status=False, generation=False),
    _rt("v1", "Event", "events", short=["ev"], status=False, generation=False),
    _rt("apps/v1", "Deployment", "deployments", short=["deploy"]),
    _rt("apps/v1", "StatefulSet", "statefulsets", short=["sts"]),
    _rt("apps/v1", "ReplicaSet", "replicasets", short=["rs"]),
    _rt("apps/v1", "DaemonSet", "daemonsets", short=["ds"]),
    _rt("batch/v1", "Job", "jobs"),
    _rt("batch/v1", "CronJob", "cronjobs", short=["cj"]),
    _rt("networking.k8s.io/v1", "Ingress", "ingresses", short=["ing"]),
    _rt("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", short=["netpol"], status=False),
    _rt("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"]),
    _rt("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"]),
    _rt("rbac.authorization.k8s.io/v1", "Role", "roles", status=False, generation=False),
    _rt("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", status=False, generation=False),
    _rt("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False, status=False, generation=False),
    _rt(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        False,
        status=False,
        generation=False,
    ),
    _rt("storage.k8s.io/v1", "StorageClass", "storageclasses", False, ["sc"], status=False, generation=False),
    _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False, ["crd", "crds"]),
]


def from_crd(crd):
    """The ResourceTypes (one per served version) a CustomResourceDefinition registers."""
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
        out.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames", ())),
                status="status" in (version.get("subresources") or {}),
                crd=crd["metadata"]["name"],
                schema=schema,
                printer_columns=tuple(
                    (c["name"], c["jsonPath"], c.get("type", "string"))
                    for c in version.get("additionalPrinterColumns", ())
                ),
                categories=tuple(names.get("categories", ())),
            )
        )
    return out
