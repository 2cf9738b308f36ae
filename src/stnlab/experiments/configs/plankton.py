"""PlanktonSet 1.0: feature-map ST against input ST (Finnveden, Jansson & Lindeberg, ICPR 2020, "Plankton").

Command (``--cell STN-C2`` for one network)::

    stnlab reproduce plankton --budget cpu
    stnlab canonical --table plankton --runs RUNS --budget cpu   # the rotation-compensation figure and JSON

The paper's claims: "transforming the depth-2 feature maps still results in a higher classification error
(22.3 %) than a similar network that transforms the input (21.5 %)", and "when transforming feature maps at
depth 2, the localisation network *does* rotate them as if trying to achieve invariance; at depth 7 it
entirely stops compensating".

Which network is the "similar network that transforms the input"? The paper does not name it. STN-C2's
loc-net reads the classifier's own depth-2 feature maps (the classifier's first two conv layers are its
trunk); **STN-SL2** is the network with exactly that loc-net -- the same shared trunk, the same parameters --
that warps the input instead, so the paper's 21.5 % is put beside STN-SL2. STN-DL2 (its own copy of the
first two layers, more parameters) is run too, as the other reading.

Budgets: ``paper`` = the data set defaults (100 epochs, batch 256, SGD lr 0.01, momentum 0.9, weight
decay 5e-4, loc-nets at lr x 0.1, fp32); ``cpu`` = 3 epochs at batch 64 with Adam (lr 1e-3, loc-nets at
lr x 0.1) in ``bf16``, 1 seed -- what five networks afford in about two and a half hours of this 2-core CPU
(~43 img/s per core in bf16, 24,272 training images: ~9.5 minutes per epoch per network); ``smoke`` = 2
steps (the test suite, on a tiny synthetic tree). Adam because this plain 10-layer network (no batch
norm) barely leaves the class prior in a few epochs of SGD: on STN-C2, 120 steps of batch 64 (training
loss over steps 81-120, bf16; the validation subset of a probe is class-sorted, so only the training loss
was compared) Adam 1e-3 reached 4.18, and one full epoch of SGD lr 0.01 (the paper budget's optimizer)
averaged 4.36 with 93.6 % validation error (ln 121 = 4.80 at chance).

Paper (test error %; the authors' own split and budget, not given in the paper):

==========  =======
network     error
==========  =======
CNN         -
STN-C2      22.30
STN-C7      -
STN-SL2     21.50 (the "similar network that transforms the input"; see above)
STN-DL2     -
==========  =======
"""

from stnlab.experiments.tables import SMOKE, Budget, Cell, PaperTable, register_table

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
        "cpu": Budget({"epochs": 3, "batch_size": 64, "precision": "bf16", "optimizer": "adam", "lr": 1e-3},
                      seeds=1, note="3 epochs, batch 64, Adam lr 1e-3, bf16, 1 seed"),
        "smoke": SMOKE,
    },
))
