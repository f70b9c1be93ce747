"""Asset clusters as data: groups of assets whose prices tend to move together.

The risk gate caps exposure per cluster (``max_cluster_exposure``). A :class:`ClusterMap`
assigns each base asset to one cluster; an asset it does not list falls into
:attr:`ClusterMap.fallback` (``"other"``), so unknown assets share one cap rather than escaping
the cluster limit.

Examples:
    >>> from quant_exec.risk import DEFAULT_CLUSTERS
    >>> DEFAULT_CLUSTERS.cluster_of("BTC"), DEFAULT_CLUSTERS.cluster_of("SOL")
    ('store_of_value', 'smart_contract_l1')
    >>> DEFAULT_CLUSTERS.cluster_of("NEWCOIN")
    'other'
    >>> "ETH" in DEFAULT_CLUSTERS.members("smart_contract_l1")
    True
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from quant_exec import reasons
from quant_exec.errors import ExecConfigError


@attrs.frozen
class ClusterMap:
    """Base asset -> cluster name.

    Attributes:
        assignments: base asset -> cluster name.
        fallback: the cluster of any asset not listed.
    """

    assignments: Mapping[str, str]
    fallback: str = "other"

    def cluster_of(self, base: str) -> str:
        """The cluster ``base`` belongs to."""
        return self.assignments.get(base, self.fallback)

    def members(self, cluster: str) -> tuple[str, ...]:
        """The listed assets of ``cluster``, sorted."""
        return tuple(sorted(b for b, c in self.assignments.items() if c == cluster))

    @classmethod
    def from_groups(
        cls, groups: Mapping[str, tuple[str, ...]], fallback: str = "other"
    ) -> ClusterMap:
        """Build a map from ``{cluster: (assets, ...)}``.

        Raises:
            ExecConfigError: ``CLUSTER_MAP_INVALID`` when an asset appears in two clusters.
        """
        assignments: dict[str, str] = {}
        for cluster, assets in groups.items():
            for base in assets:
                if base in assignments:
                    raise ExecConfigError(
                        f"{base} is in both {assignments[base]} and {cluster}",
                        reason_code=reasons.CLUSTER_MAP_INVALID,
                    )
                assignments[base] = cluster
        return cls(assignments, fallback)


DEFAULT_CLUSTERS = ClusterMap.from_groups(
    {
        "store_of_value": ("BTC", "BCH", "LTC", "XMR", "ZEC", "ETC"),
        "smart_contract_l1": (
            "ETH",
            "SOL",
            "ADA",
            "AVAX",
            "TRX",
            "SUI",
            "TON",
            "DOT",
            "NEAR",
            "ICP",
            "APT",
            "ALGO",
            "KAS",
            "HBAR",
            "BNB",
        ),
        "payments": ("XRP", "XLM"),
        "defi_infra": ("LINK", "UNI", "AAVE", "POL", "FIL", "TAO"),
        "memes": ("SHIB", "DOGE", "PEPE"),
    }
)
"""A default grouping of the Universe V1 assets; replace it with your own data as needed."""
