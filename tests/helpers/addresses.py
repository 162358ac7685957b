"""Stand-in actor addresses for tests that drive an actor without an actor system."""

from typing import Any

from thespian.actors import ActorAddress


class Named(ActorAddress):  # type: ignore[misc]
    """An address known by its name: equal to another of the same name and to the name itself (so that
    a test's assertions read as names), hashable as a runner's Ref is, printed as its name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __eq__(self, other: Any) -> bool:
        return bool(self.addressDetails == getattr(other, "addressDetails", other))

    def __hash__(self) -> int:
        return hash(self.addressDetails)

    def __repr__(self) -> str:
        return repr(self.addressDetails)
