"""SQS's query protocol, which SDKs older than 2024 speak: form parameters in, XML out.

Requests carry ``Action`` and flattened parameters (``Attribute.1.Name``,
``MessageAttribute.1.Value.StringValue``, ``SendMessageBatchRequestEntry.2.Id``...);
:func:`params_of` turns them into the JSON protocol's shapes, which
:mod:`chute.sqs.service` takes, and :func:`render` writes its answers as the query
protocol's XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from starlette.responses import Response

from chute.api.s3.xml import element, leaf
from chute.sqs.errors import InvalidParameterValue

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
XML_TYPE = "text/xml"
_DECLARATION = b'<?xml version="1.0"?>'

#: Flattened lists of strings: the query name, and the JSON one.
_STRING_LISTS = {
    "AttributeName": "AttributeNames",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "MessageAttributeName": "MessageAttributeNames",
    "TagKey": "TagKeys",
    "AWSAccountId": "AWSAccountIds",
    "ActionName": "Actions",
}
_ENTRIES = (
    "SendMessageBatchRequestEntry",
    "DeleteMessageBatchRequestEntry",
    "ChangeMessageVisibilityBatchRequestEntry",
)
#: Batch answers' entries, by the operation.
_RESULT_ENTRIES = {
    "SendMessageBatch": "SendMessageBatchResultEntry",
    "DeleteMessageBatch": "DeleteMessageBatchResultEntry",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibilityBatchResultEntry",
}

Tree = dict[str, Any]


def params_of(pairs: Iterable[tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """The action a request names, and its parameters in the JSON protocol's shape."""
    tree = _tree(pairs)
    action = tree.pop("Action", None)
    tree.pop("Version", None)
    params = _shaped(tree)
    if "Tags" in params and action == "CreateQueue":
        params["tags"] = params.pop("Tags")
    return action if isinstance(action, str) else "", params


def _tree(pairs: Iterable[tuple[str, str]]) -> Tree:
    root: Tree = {}
    for key, value in pairs:
        node = root
        *path, last = key.split(".")
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidParameterValue(f"Parameter {key} conflicts with another.")
            node = child
        if isinstance(node.get(last), dict):
            raise InvalidParameterValue(f"Parameter {key} conflicts with another.")
        node[last] = value
    return root


def _shaped(tree: Tree) -> dict[str, Any]:
    """Scalars as they are; the flattened structures SQS knows, as JSON shapes."""
    params: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, str):
            params[name] = value
        elif name in _STRING_LISTS:
            params[_STRING_LISTS[name]] = [v for v in _indexed(value) if isinstance(v, str)]
        elif name == "Attribute":
            params["Attributes"] = _pairs(value, "Name", "Value")
        elif name == "Tag":
            params["Tags"] = _pairs(value, "Key", "Value")
        elif name in ("MessageAttribute", "MessageSystemAttribute"):
            params[name + "s"] = _message_attributes(value)
        elif name in _ENTRIES:
            params["Entries"] = [
                _shaped(entry) for entry in _indexed(value) if isinstance(entry, dict)
            ]
        else:
            raise InvalidParameterValue(f"Unknown parameter {name}.")
    return params


def _indexed(node: Any) -> list[Any]:
    """The members of a flattened list (``Name.1``, ``Name.2``...), in order."""
    if not isinstance(node, dict):
        return []
    try:
        ordered = sorted(node.items(), key=lambda item: int(item[0]))
    except ValueError:
        raise InvalidParameterValue("List members must be numbered from 1.") from None
    return [value for _, value in ordered]


def _pairs(node: Any, key: str, value: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for member in _indexed(node):
        if isinstance(member, dict) and isinstance(member.get(key), str):
            found[member[key]] = str(member.get(value, ""))
    return found


def _message_attributes(node: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for member in _indexed(node):
        if not isinstance(member, dict) or not isinstance(member.get("Name"), str):
            raise InvalidParameterValue("A message attribute needs a Name.")
        value = member.get("Value")
        found[member["Name"]] = (
            {k: v for k, v in value.items() if isinstance(v, str)}
            if isinstance(value, dict)
            else {}
        )
    return found


# --- answers ------------------------------------------------------------------------------


def render(action: str, answer: dict[str, Any], request_id: str) -> Response:
    """The XML answer of ``action``."""
    result = element(f"{action}Result", *_members(action, answer))
    metadata = element("ResponseMetadata", leaf("RequestId", request_id))
    return _xml(element(f"{action}Response", result, metadata), 200)


def error(code: str, message: str, status: int, request_id: str) -> Response:
    """The query protocol's error document."""
    kind = "Sender" if status < 500 else "Receiver"
    fault = element("Error", leaf("Type", kind), leaf("Code", code), leaf("Message", message))
    fault.append(ET.Element("Detail"))
    return _xml(element("ErrorResponse", fault, leaf("RequestId", request_id)), status)


def _members(action: str, answer: dict[str, Any]) -> list[ET.Element]:
    nodes: list[ET.Element] = []
    for name, value in answer.items():
        if value is None:
            continue
        if name in ("QueueUrls", "queueUrls"):
            nodes.extend(leaf("QueueUrl", url) for url in value)
        elif name == "Attributes":
            nodes.extend(_pair("Attribute", "Name", k, "Value", v) for k, v in value.items())
        elif name == "Tags":
            nodes.extend(_pair("Tag", "Key", k, "Value", v) for k, v in value.items())
        elif name == "Messages":
            nodes.extend(element("Message", *_members(action, message)) for message in value)
        elif name == "MessageAttributes":
            nodes.extend(_message_attribute(k, v) for k, v in value.items())
        elif name == "Successful":
            tag = _RESULT_ENTRIES[action]
            nodes.extend(element(tag, *_members(action, entry)) for entry in value)
        elif name == "Failed":
            nodes.extend(element("BatchResultErrorEntry", *_members(action, e)) for e in value)
        elif name == "Results":  # ListMessageMoveTasks
            tag = "ListMessageMoveTasksResultEntry"
            nodes.extend(element(tag, *_members(action, entry)) for entry in value)
        else:
            nodes.append(leaf(name, value))
    return nodes


def _pair(tag: str, key_tag: str, key: str, value_tag: str, value: str) -> ET.Element:
    return element(tag, leaf(key_tag, key), leaf(value_tag, value))


def _message_attribute(name: str, value: dict[str, str]) -> ET.Element:
    parts = [leaf(k, value[k]) for k in ("StringValue", "BinaryValue") if k in value]
    return element(
        "MessageAttribute",
        leaf("Name", name),
        element("Value", *parts, leaf("DataType", value["DataType"])),
    )


def _xml(root: ET.Element, status: int) -> Response:
    root.set("xmlns", NAMESPACE)
    body = _DECLARATION + ET.tostring(root, encoding="unicode").replace("\r", "&#13;").encode()
    return Response(body, status_code=status, media_type=XML_TYPE)
