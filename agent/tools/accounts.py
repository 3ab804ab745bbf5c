"""The demo customer accounts behind the order-status and profile tools.

An in-memory, read-only stand-in for a customer database, loaded from
``examples/support/demo_accounts.json``: ten users and their orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import msgspec

DEMO_ACCOUNTS_PATH = (
    Path(__file__).resolve().parents[2] / "examples" / "support" / "demo_accounts.json"
)

OrderStatus = Literal["processing", "shipped", "delivered", "refunded"]


class DemoUser(msgspec.Struct, frozen=True):
    """A customer; ``tier`` is their subscription plan."""

    id: str
    name: str
    email: str
    tier: str
    country: str
    member_since: str


class DemoOrder(msgspec.Struct, frozen=True):
    """An order; ``carrier``/``tracking`` are None until it ships, ``eta`` None once delivered."""

    id: str
    user_id: str
    status: OrderStatus
    items: tuple[str, ...]
    total_usd_cents: int
    placed_on: str
    carrier: str | None
    tracking: str | None
    eta: str | None


class _AccountsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    users: tuple[DemoUser, ...]
    orders: tuple[DemoOrder, ...]


class DemoAccounts:
    """Users and orders indexed by id; lookups are dict reads."""

    def __init__(self, users: Iterable[DemoUser], orders: Iterable[DemoOrder]) -> None:
        self._users = {user.id: user for user in users}
        self._orders = {order.id: order for order in orders}
        self._orders_by_user: dict[str, list[DemoOrder]] = {}
        for order in self._orders.values():
            self._orders_by_user.setdefault(order.user_id, []).append(order)

    @classmethod
    def from_json(cls, data: bytes) -> DemoAccounts:
        """Build from ``{"users": [...], "orders": [...]}``; raises `msgspec.ValidationError`."""
        decoded = msgspec.json.decode(data, type=_AccountsFile)
        return cls(decoded.users, decoded.orders)

    @classmethod
    def load_default(cls) -> DemoAccounts:
        """The bundled demo data (loaded once per process)."""
        return _load_default()

    @property
    def users(self) -> Sequence[DemoUser]:
        """Every user, in file order."""
        return tuple(self._users.values())

    @property
    def orders(self) -> Sequence[DemoOrder]:
        """Every order, in file order."""
        return tuple(self._orders.values())

    def user(self, user_id: str) -> DemoUser | None:
        """The user with ``user_id``, or None."""
        return self._users.get(user_id)

    def order(self, order_id: str) -> DemoOrder | None:
        """The order with ``order_id``, or None."""
        return self._orders.get(order_id)

    def orders_of(self, user_id: str) -> Sequence[DemoOrder]:
        """The user's orders in file order (empty for unknown users)."""
        return tuple(self._orders_by_user.get(user_id, ()))


@cache
def _load_default() -> DemoAccounts:
    return DemoAccounts.from_json(DEMO_ACCOUNTS_PATH.read_bytes())
