"""A :class:`KrakenVenue` on the fake exchange over real HTTP (the parent's fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.quant_exec.kraken.venue._harness import ASSETS, PAIRS

from quant_exec.venues.kraken import KrakenVenue

VenueFactory = Callable[..., KrakenVenue]


@pytest.fixture
def make_venue(make_client: Any, clock: Any) -> Iterator[VenueFactory]:
    made: list[KrakenVenue] = []

    def make(client: Any = None, **options: Any) -> KrakenVenue:
        venue = KrakenVenue(
            client or make_client(), clock=clock, pairs=PAIRS, assets=ASSETS, **options
        )
        made.append(venue)
        return venue

    yield make
    for venue in made:
        venue.close()


@pytest.fixture
def venue(make_venue: VenueFactory) -> KrakenVenue:
    return make_venue()
