"""The headers of agents' HTTP tools are secrets (an `Authorization` key, an API token): the
store keeps each value encrypted with the provider-keys vault (`SEALED` + Fernet token), the
API shows it as `MASK`, and only a call's worker opens it.

An update that sends a header back as `MASK` keeps the stored value of that tool's header.
"""

from __future__ import annotations

from typing import Any

from .security import ProviderKeyVault

SEALED = "sealed:v1:"
MASK = "********"


class ToolSecretError(ValueError):
    """A header value that cannot be taken (the message names the tool and the header)."""


def seal_tools(
    tools: list[dict[str, Any]], vault: ProviderKeyVault, stored: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """`tools` as the store keeps them: every header value encrypted; a `MASK` keeps the
    stored value of the same tool's header."""
    previous = {
        tool.get("name"): tool.get("headers") or {}
        for tool in stored or []
        if tool.get("type") == "http"
    }
    sealed = []
    for tool in tools:
        if tool.get("type") != "http" or not tool.get("headers"):
            sealed.append(tool)
            continue
        headers = {}
        for name, value in tool["headers"].items():
            if value == MASK:
                kept = previous.get(tool["name"], {}).get(name)
                if kept is None:
                    raise ToolSecretError(
                        f"tools: header {name!r} of tool {tool['name']!r} is the mask, but no "
                        "value is stored for it; send the value"
                    )
                headers[name] = kept
            elif value.startswith(SEALED):
                raise ToolSecretError(f"tools: header {name!r} of tool {tool['name']!r} is invalid")
            else:
                headers[name] = SEALED + vault.encrypt(value)
        sealed.append({**tool, "headers": headers})
    return sealed


def mask_tools(tools: Any) -> Any:
    """`tools` as the API shows them: every header value masked."""
    if not isinstance(tools, list):
        return tools
    return [
        {**tool, "headers": dict.fromkeys(tool["headers"], MASK)}
        if isinstance(tool, dict) and tool.get("headers")
        else tool
        for tool in tools
    ]


def open_tools(tools: list[dict[str, Any]], vault: ProviderKeyVault) -> list[dict[str, Any]]:
    """`tools` with their header values decrypted, for a call (never stored or logged)."""
    opened = []
    for tool in tools:
        headers = tool.get("headers") if tool.get("type") == "http" else None
        if headers:
            tool = {
                **tool,
                "headers": {
                    name: vault.decrypt(value[len(SEALED) :]) if value.startswith(SEALED) else value
                    for name, value in headers.items()
                },
            }
        opened.append(tool)
    return opened
