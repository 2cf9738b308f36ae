"""PlanktonSet 1.0: feature-map ST against input ST (Finnveden, Jansson & Lindeberg, ICPR 2020, "Plankton").

Command (``--cell STN-C2`` for one network)::

    stnlab reproduce plankton --budget long --set threads=1     # two such commands share one queue, a core each
    stnlab reproduce plankton --budget medium --set threads=1   # the same recipe in 10 epochs
    stnlab reproduce plankton --budget long --cell STN-C2 --cell STN-SL2 --seeds 3 --set threads=1
    stnlab canonical --table plankton --runs RUNS --budget long   # the rotation-compensation figure and JSON

The paper's claims: "transforming the depth-2 feature maps still results in a higher classification error
[STN-C2's number below] than a similar network that transforms the input [STN-SL2's]", and "when
transforming feature maps at depth 2, the localisation network *does* rotate them as if trying to achieve
invariance; at depth 7 it entirely stops compensating".

Which network is the "similar network that transforms the input"? The paper does not name it. STN-C2's
loc-net reads the classifier's own depth-2 feature maps (the classifier's first two conv layers are its
trunk); **STN-SL2** is the network with exactly that loc-net -- the same shared trunk, the same parameters --
that warps the input instead, so the paper's second number is put beside STN-SL2. STN-DL2 (its own copy of the
first two layers, more parameters) is run too, as the other reading.

The ``long`` budget (docs/training.md, "The plankton recipe"; chosen on the validation split): 30 epochs
at batch 64, SGD with momentum 0.9 at lr 0.02 on a cosine schedule after a half-epoch linear warm-up, the
whole gradient clipped at norm 5, weight decay 5e-4, loc-nets at lr x 0.03 (at x 0.1, the data set default,
STN-SL2 rotated images at random after the first epoch; docs/training.md) with the ``ndsb`` loc-net (input
BatchNorm, He init), a **rotation-only** transform (the plankton claims are about rotation),
``padding_mode='border'`` (the authors'), the authors' augmentation ramped in over the first 6 epochs
(``transform_warmup=6``: epoch 0 shows the images as photographed, whose principal axes are not uniformly
oriented, so the classifier can prefer a pose that the loc-net then learns to restore, as on
MNIST), bf16 autocast. 1 seed for every network, 3 for STN-C2 and STN-SL2 (the paired difference of
P-error).

``medium`` is the same recipe in 10 epochs (augmentation ramped in over 2): the budget whose cells land when run
folders do not outlive a 3-hour session of a 2-core host without AMX (two networks side by side, one a core);
``long`` needs a host whose run folders persist, or a GPU.

Budgets: ``paper`` = the data set defaults (100 epochs, batch 256, SGD lr 0.01, momentum 0.9, weight decay
5e-4, loc-nets at lr x 0.1, fp32); ``cpu`` = 2 epochs at batch 64 with Adam (lr 1e-3, loc-nets at lr x 0.1,
weight decay 5e-4) in ``bf16``, 1 seed -- what five networks afford in a few hours of a 2-core CPU (24,272
training images per epoch); ``smoke`` = 2 steps (the test suite, on a tiny synthetic tree). Adam because it
learns faster in so few steps: STN-C2 probes of 150 steps at batch 64 (bf16, He init, no decay, validation on
1,000 mixed validation images) reached 75.8 % validation error with Adam 1e-3 against 80.9 % with SGD lr 0.01
(momentum 0.9). The ``cpu`` budget is far too short for the paper's error; it is there for the
rotation-compensation claim and the ordering.

Runtimes: each run's ``wall_seconds`` in ``results/plankton.json`` (the generated tables show them).

Paper (test error %; the authors' own split and budget, not given in the paper; rendered from the cells):
"""

from stnlab.experiments.tables import SMOKE, Budget, Cell, PaperTable, register_table

# the `long` budget's recipe (see the docstring)
LONG = {"epochs": 30, "batch_size": 64, "precision": "bf16", "optimizer": "sgd", "lr": 0.02, "momentum": 0.9,
        "schedule": "cosine", "lr_warmup": 0.5, "grad_clip": 5.0, "loc_lr_multiplier": 0.03, "family": "rotation",
        "padding_mode": "border", "loc_net": "ndsb", "transform_warmup": 6, "ckpt_every": 190}
# the `medium` budget: the same recipe in 10 epochs (warm-up 2), which two networks finish side by side in one
# 3-hour session of a 2-core host without AMX, so that cells land where checkpoints do not outlive a session
MEDIUM = {**LONG, "epochs": 10, "transform_warmup": 2}
_PAPER = {"CNN": None, "STN-C2": 22.3, "STN-C7": None, "STN-SL2": 21.5, "STN-DL2": None}

TABLE = register_table(PaperTable(
    name="plankton",
    title="PlanktonSet 1.0: test error (%) of feature-map and input STs",
    source="Finnveden, Jansson & Lindeberg, ICPR 2020",
    rows=tuple(_PAPER),
    columns=("error",),
    cells=tuple(Cell(model, "error", model, "plankton", err) for model, err in _PAPER.items()),
    doc=__doc__,
    budgets={
        "paper": Budget(seeds=1, note="the data set defaults: 100 epochs, batch 256, fp32"),
        "long": Budget(LONG, seeds=1, note="30 epochs, batch 64, SGD lr 0.02 cosine, rotation ST, augmentation "
                                           "ramped in over 6 epochs, bf16"),
        "medium": Budget(MEDIUM, seeds=1, note="the long recipe in 10 epochs (augmentation ramped in over 2), bf16"),
        "cpu": Budget({"epochs": 2, "batch_size": 64, "precision": "bf16", "optimizer": "adam", "lr": 1e-3},
                      seeds=1, note="2 epochs, batch 64, Adam lr 1e-3, bf16, 1 seed"),
        "smoke": SMOKE,
    },
    reports={"error": "plankton-compensation.json"},  # `stnlab canonical --table plankton`
    course=True,  # P-comp needs input-dependent loc-nets: their rotation spread by epoch, under the table
))
__doc__ = TABLE.docstring  # with the paper's numbers, rendered from the cells
