"""What infra/ says about delivering events to the functions, read from the Terraform itself so the
local Eventarc delivers as the deployed triggers do: the retry policy and attempt count of the
triggers' subscriptions, and each event function's maximum instances and concurrency.

    max_delivery_attempts   variable default                    deliveries before dead-lettering
    event_retry_delay_s     variable default {min, max}         exponential backoff between them
    <function>.max_instances, max_instance_request_concurrency  Cloud Run's capacity

These are the values Terraform applies when no one overrides them; `cloudscore local up` can
scale the delays down (a faster clock for tests) or give a function fewer instances, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_emulator.iam import hcl
from shared.errors import LocalStackError


@dataclass(frozen=True)
class DeliveryPolicy:
    """Pub/Sub's retry policy on a trigger's subscription, and its dead-letter threshold
    (https://cloud.google.com/eventarc/docs/retry-events)."""

    max_attempts: int
    min_backoff_s: float
    max_backoff_s: float
    # Eventarc waits for a function as long as the function's own timeout (540 s at most).
    request_timeout_s: float = 600.0

    def backoff(self, attempt: int) -> float:
        """Seconds before redelivering after failed attempt number `attempt` (1-based)."""
        return float(min(self.min_backoff_s * 2 ** (attempt - 1), self.max_backoff_s))

    def scaled(self, factor: float) -> DeliveryPolicy:
        """The same policy on a faster clock: the delays times `factor`, the attempts as many."""
        return DeliveryPolicy(
            self.max_attempts,
            self.min_backoff_s * factor,
            self.max_backoff_s * factor,
            self.request_timeout_s,
        )


@dataclass(frozen=True)
class Capacity:
    """How many deliveries a function accepts at once: instances x requests per instance; one
    more is refused (429) and retried, as Cloud Run refuses it
    (https://cloud.google.com/run/docs/about-concurrency)."""

    max_instances: int
    concurrency: int

    @property
    def slots(self) -> int:
        return self.max_instances * self.concurrency


@dataclass(frozen=True)
class EventDelivery:
    policy: DeliveryPolicy
    capacity: Mapping[str, Capacity]  # event function -> its capacity


def event_delivery(module: Mapping[str, Any] | None = None) -> EventDelivery:
    """The deployment's delivery of events, from infra/*.tf."""
    module = module if module is not None else hcl.read_module()
    variables = module["variable"]
    delays = _optional_defaults(variables["event_retry_delay_s"]["type"])
    policy = DeliveryPolicy(
        max_attempts=int(variables["max_delivery_attempts"]["default"]),
        min_backoff_s=float(delays["min"]),
        max_backoff_s=float(delays["max"]),
    )
    capacity = {}
    for (kind, name), body in module["resource"].items():
        if kind != "google_cloudfunctions2_function" or "event_trigger" not in body:
            continue
        service = body["service_config"][0]
        capacity[name] = Capacity(
            max_instances=int(_value(service["max_instance_count"], variables)),
            concurrency=int(_value(service["max_instance_request_concurrency"], variables)),
        )
    return EventDelivery(policy, capacity)


def _value(value: Any, variables: Mapping[str, Any]) -> Any:
    """A literal, or `${var.NAME.FIELD}` read from the variable's default."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\$\{var\.(\w+)\.(\w+)\}", value)
    if match is None:
        raise LocalStackError("infra", f"cannot read {value!r} without Terraform")
    name, field = match.groups()
    defaults = _optional_defaults(variables[name]["type"])
    return defaults[field]


def _optional_defaults(type_expression: str) -> dict[str, str]:
    """`object({a = optional(number, 10), …})` -> {"a": "10", …}."""
    found = re.findall(
        r"(\w+)\s*=\s*optional\(\s*\w+\s*,\s*(\"[^\"]*\"|[0-9.]+)\s*\)", type_expression
    )
    return {name: value.strip('"') for name, value in found}
