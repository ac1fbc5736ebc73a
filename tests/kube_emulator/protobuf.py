"""Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`) for the kinds typed Go clients send that way
here: Secret and ConfigMap (helm's storage), Namespace and ServiceAccount (`kubectl create`), DeleteOptions.

The wire format is the magic `k8s\\0` followed by a `runtime.Unknown` envelope whose `raw` field holds
the object. The message shapes below are the field numbers of k8s.io/api generated.proto; fields we
do not declare (managedFields, ...) are skipped by the protobuf parser.
"""

from datetime import UTC, datetime

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_S, _B, _I64, _I32, _BOOL, _MSG = (
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
)
# message -> [(number, json name, type, message type or None, repeated)]
_MESSAGES = {
    "TypeMeta": [(1, "apiVersion", _S), (2, "kind", _S)],
    "Unknown": [(1, "typeMeta", _MSG, "TypeMeta"), (2, "raw", _B), (3, "contentEncoding", _S), (4, "contentType", _S)],
    "Time": [(1, "seconds", _I64), (2, "nanos", _I32)],
    "OwnerReference": [
        (1, "kind", _S),
        (3, "name", _S),
        (4, "uid", _S),
        (5, "apiVersion", _S),
        (6, "controller", _BOOL),
        (7, "blockOwnerDeletion", _BOOL),
    ],
    "ObjectMeta": [
        (1, "name", _S),
        (2, "generateName", _S),
        (3, "namespace", _S),
        (5, "uid", _S),
        (6, "resourceVersion", _S),
        (7, "generation", _I64),
        (8, "creationTimestamp", _MSG, "Time"),
        (9, "deletionTimestamp", _MSG, "Time"),
        (11, "labels", "map", _S),
        (12, "annotations", "map", _S),
        (13, "ownerReferences", _MSG, "OwnerReference", True),
        (14, "finalizers", _S, None, True),
    ],
    "Secret": [
        (1, "metadata", _MSG, "ObjectMeta"),
        (2, "data", "map", _B),
        (3, "type", _S),
        (4, "stringData", "map", _S),
        (5, "immutable", _BOOL),
    ],
    "ConfigMap": [
        (1, "metadata", _MSG, "ObjectMeta"),
        (2, "data", "map", _S),
        (3, "binaryData", "map", _B),
        (4, "immutable", _BOOL),
    ],
    "NamespaceSpec": [(1, "finalizers", _S, None, True)],
    "NamespaceStatus": [(1, "phase", _S)],
    "Namespace": [
        (1, "metadata", _MSG, "ObjectMeta"),
        (2, "spec", _MSG, "NamespaceSpec"),
        (3, "status", _MSG, "NamespaceStatus"),
    ],
    "ObjectReference": [(1, "kind", _S), (2, "namespace", _S), (3, "name", _S), (4, "uid", _S), (5, "apiVersion", _S)],
    "LocalObjectReference": [(1, "name", _S)],
    "ServiceAccount": [
        (1, "metadata", _MSG, "ObjectMeta"),
        (2, "secrets", _MSG, "ObjectReference", True),
        (3, "imagePullSecrets", _MSG, "LocalObjectReference", True),
        (4, "automountServiceAccountToken", _BOOL),
    ],
    "Preconditions": [(1, "uid", _S), (2, "resourceVersion", _S)],
    "DeleteOptions": [
        (1, "gracePeriodSeconds", _I64),
        (2, "preconditions", _MSG, "Preconditions"),
        (3, "orphanDependents", _BOOL),
        (4, "propagationPolicy", _S),
        (5, "dryRun", _S, None, True),
    ],
}
KINDS = ("Secret", "ConfigMap", "Namespace", "ServiceAccount", "DeleteOptions")


class NotEmulated(ValueError):
    """A protobuf body of a kind this module does not know."""


def _build():
    file = descriptor_pb2.FileDescriptorProto(name="kube_emulator.proto", package="k8s", syntax="proto2")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for number, json_name, ftype, *rest in fields:
            type_name, repeated = (rest + [None, False])[:2]
            field = message.field.add(name=json_name, json_name=json_name, number=number)
            field.label = field.LABEL_REPEATED if repeated or ftype == "map" else field.LABEL_OPTIONAL
            if ftype == "map":  # a map is a repeated nested entry message
                entry = message.nested_type.add(name=json_name[0].upper() + json_name[1:] + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=_S, label=field.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=type_name, label=field.LABEL_OPTIONAL)
                field.type, field.type_name = _MSG, f".k8s.{name}.{entry.name}"
            else:
                field.type = ftype
                if type_name:
                    field.type_name = f".k8s.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"k8s.{n}")) for n in _MESSAGES}


_CLASSES = _build()


def _time_to_json(value):
    return datetime.fromtimestamp(int(value.get("seconds", 0)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fix(obj):
    """json_format writes int64 as strings and Time as a message: make them Kubernetes JSON."""
    meta = obj.get("metadata") or {}
    for key in ("creationTimestamp", "deletionTimestamp"):
        if isinstance(meta.get(key), dict):
            meta[key] = _time_to_json(meta[key])
    for container, key in ((meta, "generation"), (obj, "gracePeriodSeconds")):
        if key in container:
            container[key] = int(container[key])
    return obj


def decode(data):
    """A Kubernetes protobuf body as a JSON-style dict (apiVersion and kind included)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body (missing k8s magic)")
    envelope = _CLASSES["Unknown"].FromString(data[len(MAGIC) :])
    kind = envelope.typeMeta.kind
    if kind not in KINDS:
        raise NotEmulated(f"protobuf bodies for {kind or 'an unknown kind'} are not emulated; send JSON")
    message = _CLASSES[kind].FromString(envelope.raw)
    obj = _fix(json_format.MessageToDict(message, preserving_proto_field_name=True))
    obj["kind"] = kind
    obj["apiVersion"] = envelope.typeMeta.apiVersion or "v1"
    return obj


def encode(obj):
    """The reverse of decode (used by the emulator's tests)."""
    kind = obj["kind"]
    body = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    meta = dict(body.get("metadata") or {})
    for key in ("creationTimestamp", "deletionTimestamp"):
        if isinstance(meta.get(key), str):
            stamp = datetime.strptime(meta[key], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            meta[key] = {"seconds": int(stamp.timestamp())}
    meta.pop("managedFields", None)
    if "metadata" in body:
        body["metadata"] = meta
    raw = json_format.ParseDict(body, _CLASSES[kind](), ignore_unknown_fields=True).SerializeToString()
    envelope = _CLASSES["Unknown"](raw=raw, contentEncoding="", contentType="")
    envelope.typeMeta.apiVersion = obj.get("apiVersion", "v1")
    envelope.typeMeta.kind = kind
    return MAGIC + envelope.SerializeToString()
