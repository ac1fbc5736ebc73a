"""The four patch flavours: JSON merge, JSON patch, strategic merge, and server-side apply."""

import copy
import json

from .errors import ApiError


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target, operations):
    """RFC 6902 JSON patch."""
    doc = copy.deepcopy(target)
    if not isinstance(operations, list):
        raise ApiError.bad_request("json patch must be a list of operations")
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        try:
            if kind == "add":
                doc = _pointer_set(doc, path, copy.deepcopy(op["value"]), insert=True)
            elif kind == "remove":
                doc = _pointer_remove(doc, path)
            elif kind == "replace":
                _pointer_get(doc, path)
                doc = _pointer_set(doc, path, copy.deepcopy(op["value"]), insert=False)
            elif kind in ("move", "copy"):
                value = copy.deepcopy(_pointer_get(doc, op["from"]))
                if kind == "move":
                    doc = _pointer_remove(doc, op["from"])
                doc = _pointer_set(doc, path, value, insert=True)
            elif kind == "test":
                if _pointer_get(doc, path) != op.get("value"):
                    raise ApiError.unprocessable_patch(f"testing value {path} failed")
            else:
                raise ApiError.bad_request(f"unexpected json patch operation {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError.unprocessable_patch(
                f"the server rejected our request due to an error in our request: {op}: {exc}"
            ) from exc
    return doc


def _tokens(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _pointer_get(doc, path):
    for token in _tokens(path):
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def _pointer_set(doc, path, value, insert):
    tokens = _tokens(path)
    if not tokens:
        return value
    parent = (
        _pointer_get(doc, "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1]))
        if len(tokens) > 1
        else doc
    )
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            if index > len(parent):
                raise IndexError(f"index {index} out of range")
            parent.insert(index, value)
        else:
            parent[index] = value
    else:
        parent[last] = value
    return doc


def _pointer_remove(doc, path):
    tokens = _tokens(path)
    parent = doc
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    if isinstance(parent, list):
        parent.pop(int(tokens[-1]))
    else:
        del parent[tokens[-1]]
    return doc


# -- strategic merge patch --------------------------------------------------------------------
def strategic_merge(schemas, node, target, patch):
    """Strategic merge patch, taking merge keys and strategies from the core schema."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in value]
            continue
        sub = schemas.child(node, key) if node else None
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = strategic_merge(schemas, sub, result.get(key), value)
        elif isinstance(value, list):
            result[key] = _merge_list(schemas, sub, result.get(key), value)
        else:
            result[key] = value
    if isinstance(patch.get("$retainKeys"), list):
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _merge_list(schemas, node, current, patch):
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    keys = schemas.list_keys(node, strategic=True) if node else None
    if keys and all(isinstance(i, dict) for i in patch):
        key, items = keys[0], schemas.items(node)
        out = copy.deepcopy(current) if isinstance(current, list) else []
        for item in patch:
            at = next((n for n, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if at is not None:
                    out.pop(at)
            elif at is None:
                out.append(_strip(item))
            else:
                out[at] = strategic_merge(schemas, items, out[at], item)
        return out
    if node and schemas.is_set(node, strategic=True):
        out = list(current or [])
        return out + [x for x in patch if x not in out]
    return _strip(patch)


# -- server-side apply ------------------------------------------------------------------------
_TRACKED_METADATA = {"labels", "annotations", "finalizers", "ownerReferences"}


def field_set(schemas, node, obj, prefix=()):
    """{path: value} for every leaf of obj, paths in managedFields (FieldsV1) notation."""
    out = {}
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            if not prefix and key in ("apiVersion", "kind", "status"):
                continue
            if prefix == ("f:metadata",) and key not in _TRACKED_METADATA:
                continue
            out.update(field_set(schemas, schemas.child(node, key) if node else None, value, prefix + (f"f:{key}",)))
        return out
    if isinstance(obj, list) and node is not None:
        keys = schemas.list_keys(node)
        if keys and all(isinstance(i, dict) for i in obj):
            for item in obj:
                item_path = prefix + ("k:" + _key_json(item, keys),)
                out[item_path + (".",)] = None
                out.update(field_set(schemas, schemas.items(node), item, item_path))
            return out
        if schemas.is_set(node):
            return {prefix + ("v:" + json.dumps(v),): v for v in obj}
    if prefix:
        out[prefix] = obj
    return out


def _key_json(item, keys):
    return json.dumps({k: item.get(k) for k in keys}, separators=(",", ":"), sort_keys=True)


def fields_tree(paths):
    tree = {}
    for path in sorted(paths):
        level = tree
        for part in path:
            level = level.setdefault(part, {})
    return tree


def fields_paths(tree, prefix=()):
    paths = set()
    for key, sub in (tree or {}).items():
        if sub:
            paths |= fields_paths(sub, prefix + (key,))
        else:
            paths.add(prefix + (key,))
    return paths


def managed_entries(obj):
    """{(manager, operation, subresource): set of paths} from metadata.managedFields."""
    out = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        key = (entry.get("manager", ""), entry.get("operation", "Update"), entry.get("subresource", ""))
        out[key] = fields_paths(entry.get("fieldsV1"))
    return out


def write_managed(obj, entries, api_version, now):
    fields = []
    for (manager, operation, subresource), paths in entries.items():
        if not paths:
            continue
        entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now}
        entry.update(fieldsType="FieldsV1", fieldsV1=fields_tree(paths))
        if subresource:
            entry["subresource"] = subresource
        fields.append(entry)
    obj.setdefault("metadata", {})["managedFields"] = fields


def record_update(schemas, node, old, new, manager, subresource=""):
    """Give `manager` the fields an update/patch/create changed, as the API server does."""
    entries = managed_entries(old) if old else {}
    before = field_set(schemas, node, old or {})
    after = field_set(schemas, node, new)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    gone = set(before) - set(after)
    for key in entries:
        entries[key] = entries[key] - changed - gone
    if changed:
        entries.setdefault((manager, "Update", subresource), set()).update(changed)
    return entries


def apply(schemas, node, current, applied, manager, force):
    """Server-side apply of `applied` by `manager` onto `current`; returns (object, managed entries)."""
    entries = managed_entries(current) if current else {}
    mine = (manager, "Apply", "")
    new_fields = field_set(schemas, node, applied)
    have = field_set(schemas, node, current or {})
    conflicts = []
    for path, value in new_fields.items():
        if path[-1] == "." or path not in have or have[path] == value:
            continue
        for key, owned in entries.items():
            if key[0] != manager and path in owned:
                conflicts.append((key[0], path))
    if conflicts and not force:
        raise ApiError.apply_conflict(conflicts, applied)
    for owner, path in conflicts:
        for key in entries:
            if key[0] == owner:
                entries[key].discard(path)
    merged = _apply_merge(schemas, node, current or {}, applied)
    others = set().union(*(p for k, p in entries.items() if k != mine)) if entries else set()
    # Deepest first; a list item (its "." path) before its own fields, which include the keys
    # that find it (removing `name` first would leave a nameless item behind).
    for path in sorted(
        entries.get(mine, set()) - set(new_fields) - others,
        key=lambda p: len(p) + (0.5 if p[-1] == "." else 0),
        reverse=True,
    ):
        _remove_path(merged, path)
    entries[mine] = set(new_fields)
    return merged, entries


def _apply_merge(schemas, node, current, applied):
    if isinstance(applied, dict) and isinstance(current, dict):
        out = copy.deepcopy(current)
        for key, value in applied.items():
            out[key] = _apply_merge(schemas, schemas.child(node, key) if node else None, current.get(key), value)
        return out
    keys = schemas.list_keys(node) if node is not None and isinstance(applied, list) else None
    if keys and isinstance(current, list) and all(isinstance(i, dict) for i in applied + current):
        index = {_key_json(i, keys): i for i in current}
        out = []
        for item in applied:
            key = _key_json(item, keys)
            out.append(_apply_merge(schemas, schemas.items(node), index.pop(key, {}), item))
        return out + [i for i in current if _key_json(i, keys) in index]
    return copy.deepcopy(applied)


def _remove_path(obj, path):
    parent, last = obj, path[-1]
    if last == ".":
        path, last = path[:-1], path[-2]
    for part in path[:-1]:
        parent = _step(parent, part)
        if parent is None:
            return
    if isinstance(parent, dict) and last.startswith("f:"):
        parent.pop(last[2:], None)
    elif isinstance(parent, list) and last.startswith("k:"):
        wanted = json.loads(last[2:])
        parent[:] = [i for i in parent if not all(i.get(k) == v for k, v in wanted.items())]
    elif isinstance(parent, list) and last.startswith("v:"):
        value = json.loads(last[2:])
        parent[:] = [i for i in parent if i != value]


def _step(value, part):
    if isinstance(value, dict) and part.startswith("f:"):
        return value.get(part[2:])
    if isinstance(value, list) and part.startswith("k:"):
        wanted = json.loads(part[2:])
        return next((i for i in value if all(i.get(k) == v for k, v in wanted.items())), None)
    return None
