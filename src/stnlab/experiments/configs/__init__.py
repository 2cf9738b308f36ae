"""One module per paper table; importing this package registers them all."""

from stnlab.experiments.configs import mnist_eq, mnist_rst, plankton, svhn_depth, svhn_iterative  # noqa: F401
