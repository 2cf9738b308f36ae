"""Building blocks: localization networks, the spatial transformer layer, and the STN model class."""

from stnlab.nn.conv import FastInputGradConv2d
from stnlab.nn.localization import LocalizationNet, output_shape
from stnlab.nn.model import Backbone, STNModel, parameter_groups
from stnlab.nn.transformer import SpatialTransformer

__all__ = ["Backbone", "FastInputGradConv2d", "LocalizationNet", "STNModel", "SpatialTransformer", "output_shape",
           "parameter_groups"]
