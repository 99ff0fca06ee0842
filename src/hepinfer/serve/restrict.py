"""Restricted API groups, as Triton's ``--grpc-restricted-protocol`` / ``--http-restricted-api``.

A specification ``<group>[,<group>...]:<key>=<value>`` restricts the groups' endpoints to
requests that carry the header ``key`` with value ``value`` (over gRPC Triton prefixes the
key: the metadata key is ``triton-grpc-protocol-<key>``). A request without it is refused:
gRPC UNAVAILABLE "This protocol is restricted, expecting header '<key>'", HTTP 403 "This API
is restricted, expecting header '<key>'" (Triton 2.51's answers).

    rules = parse_restrictions(["model-repository,statistics:admin-key=secret"])
    rules.check("model-repository", headers)   # raises RestrictedApiError
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hepinfer.errors import RestrictedApiError, ServeError

#: Triton's API groups
GROUPS = (
    "health",
    "metadata",
    "inference",
    "shared-memory",
    "model-config",
    "model-repository",
    "statistics",
    "trace",
    "logging",
)

#: the prefix Triton puts before the key of a gRPC restriction
GRPC_HEADER_PREFIX = "triton-grpc-protocol-"

#: gRPC method of inference.GRPCInferenceService -> its API group
GRPC_METHOD_GROUPS = {
    "ServerLive": "health",
    "ServerReady": "health",
    "ModelReady": "health",
    "ServerMetadata": "metadata",
    "ModelMetadata": "metadata",
    "ModelInfer": "inference",
    "ModelStreamInfer": "inference",
    "ModelConfig": "model-config",
    "ModelStatistics": "statistics",
    "RepositoryIndex": "model-repository",
    "RepositoryModelLoad": "model-repository",
    "RepositoryModelUnload": "model-repository",
    "SystemSharedMemoryStatus": "shared-memory",
    "SystemSharedMemoryRegister": "shared-memory",
    "SystemSharedMemoryUnregister": "shared-memory",
    "CudaSharedMemoryStatus": "shared-memory",
    "CudaSharedMemoryRegister": "shared-memory",
    "CudaSharedMemoryUnregister": "shared-memory",
    "TraceSetting": "trace",
    "LogSettings": "logging",
}


@dataclass(frozen=True)
class Restriction:
    """The header key and value a restricted group needs."""

    key: str
    value: str


@dataclass(frozen=True)
class Restrictions:
    """Group -> the header it needs; groups not listed are open."""

    rules: Mapping[str, Restriction] = field(default_factory=dict)
    #: "grpc" (keys get Triton's prefix and are lower-case, as gRPC metadata keys are) or "http"
    protocol: str = "http"

    def __bool__(self) -> bool:
        return bool(self.rules)

    def header(self, group: str) -> Restriction | None:
        """The header (name as sent on the wire) and value `group` needs, or None if open."""
        rule = self.rules.get(group)
        if rule is None:
            return None
        if self.protocol == "grpc":
            return Restriction((GRPC_HEADER_PREFIX + rule.key).lower(), rule.value)
        return rule

    def allowed(self, group: str, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bool:
        """Whether a request to `group` with these headers (or gRPC metadata pairs) may pass."""
        need = self.header(group)
        if need is None:
            return True
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        if self.protocol == "http":
            return any(k.lower() == need.key.lower() and v == need.value for k, v in pairs)
        return any(k == need.key and v == need.value for k, v in pairs)

    def check(self, group: str, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """Raise RestrictedApiError (Triton's message) when the request may not pass."""
        if not self.allowed(group, headers):
            raise RestrictedApiError(self.refusal(group))

    def refusal(self, group: str) -> str:
        """Triton's refusal message for a request to restricted `group`."""
        need = self.header(group)
        assert need is not None
        what = "protocol" if self.protocol == "grpc" else "API"
        return f"This {what} is restricted, expecting header '{need.key}'"


def parse_restrictions(specs: Iterable[str], protocol: str) -> Restrictions:
    """Parse Triton's ``<group>[,<group>...]:<key>=<value>`` specifications.

    Raises ServeError naming the bad specification (unknown group, no key, a group
    restricted twice).
    """
    flag = "--grpc-restricted-protocol" if protocol == "grpc" else "--http-restricted-api"
    rules: dict[str, Restriction] = {}
    for spec in specs:
        groups_text, sep, header = spec.partition(":")
        key, eq, value = header.partition("=")
        if not sep or not eq or not key or not groups_text:
            msg = (
                f"{flag} {spec!r} is not '<group>[,<group>...]:<key>=<value>' "
                "(e.g. 'model-repository:admin-key=secret')"
            )
            raise ServeError(msg)
        for item in groups_text.split(","):
            group = item.strip()
            if group not in GROUPS:
                msg = f"{flag} {spec!r}: unknown API group {group!r}; groups: {', '.join(GROUPS)}"
                raise ServeError(msg)
            if group in rules:
                msg = (
                    f"{flag} {spec!r}: group {group!r} is already restricted by another "
                    "specification; give each group one key"
                )
                raise ServeError(msg)
            rules[group] = Restriction(key, value)
    return Restrictions(rules, protocol)
