"""Building blocks: localization networks, the spatial transformer layer, and the STN model class."""

from stnlab.nn.conv import FastInputGradConv2d
from stnlab.nn.equivariant import GroupConv2d, GroupPool, to_plain_convs
from stnlab.nn.group_transformer import GroupSpatialTransformer
from stnlab.nn.init import HeConv2d, HeLinear, he_init_
from stnlab.nn.localization import LocalizationNet, output_shape
from stnlab.nn.model import Backbone, STNModel, parameter_groups, st_depths
from stnlab.nn.transformer import SpatialTransformer

__all__ = ["Backbone", "FastInputGradConv2d", "GroupConv2d", "GroupPool", "GroupSpatialTransformer", "HeConv2d",
           "HeLinear", "LocalizationNet", "STNModel", "SpatialTransformer", "he_init_", "output_shape",
           "parameter_groups", "st_depths", "to_plain_convs"]
