"""LEAF's aggregation plugged into other methods (the LEAF paper's plug-in rows), by composition:
the host keeps its own pseudo-labels, mask and losses; the network gets LEAF's semantic- and
instance-level experts (``LEAF_EXPERTS``) and the host's unlabeled loss is LEAF's category level
(``CategoryLevelLoss``, from the ``leaf`` settings). No host has a branch for it."""
from __future__ import annotations

from ssfer_core.methods.base import RunContext
from ssfer_core.methods.fixmatch import FixMatch, FixMatchConfig
from ssfer_core.methods import leaf as leaf_method
from ssfer_core.methods import sitfer as sitfer_method
from ssfer_core.methods.leaf import LeafConfig
from ssfer_core.methods.registry import LEAF_EXPERTS, PLAIN_HEAD, Diagnostics, register_method
from ssfer_core.methods.sitfer import SitFer, SitferConfig, sitfer_net
from ssfer_core.methods.unlabeled import CategoryLevelLoss


@register_method("leaf+fixmatch", sections={"fixmatch": FixMatchConfig, "leaf": LeafConfig},
                 net=PLAIN_HEAD | {"l2_normalize": True} | LEAF_EXPERTS, diagnostics=leaf_method.DIAGNOSTICS, cost=3.1)
def leaf_fixmatch(model, ctx: RunContext, fixmatch: FixMatchConfig, leaf: LeafConfig) -> FixMatch:
    """FixMatch with LEAF's experts and category-level loss on FixMatch's confidence mask."""
    return FixMatch(fixmatch, model, ctx, CategoryLevelLoss.from_settings(leaf))


@register_method("leaf+sitfer", sections={"sitfer": SitferConfig, "leaf": LeafConfig},
                 net=lambda sitfer, **_: sitfer_net(sitfer) | LEAF_EXPERTS, cost=3.1,
                 diagnostics=Diagnostics(sitfer_method.DIAGNOSTICS.sources, leaf_method.DIAGNOSTICS.set_recall,
                                         sitfer_method.DIAGNOSTICS.figures + leaf_method.DIAGNOSTICS.figures))
def leaf_sitfer(model, ctx: RunContext, sitfer: SitferConfig, leaf: LeafConfig) -> SitFer:
    """SIT-FER with LEAF's experts and category-level loss on SIT-FER's fused pseudo-labels."""
    return SitFer(sitfer, model, ctx, CategoryLevelLoss.from_settings(leaf))
