"""Geometry: transform matrices, transform families and warping — one convention, written once.

Coordinate convention (used everywhere in stnlab)
-------------------------------------------------
* Points are ``(x, y)`` in **normalised coordinates**: ``x`` runs left to right, ``y`` top to bottom,
  both in ``[-1, 1]`` across the image, with ``align_corners=False`` (``-1`` and ``1`` are the outer
  *edges* of the border pixels, not their centres). One pixel of a ``W``-wide image is ``2 / W`` wide.
  The same point therefore lies at the same normalised coordinate at every resolution, which lets a
  matrix predicted from one layer be applied to another.
* A transform is a **3x3 homogeneous matrix** ``A`` (batched: ``B x 3 x 3``) that maps **output
  coordinates to input coordinates**: ``warp(x, A)[p] = x[A p]`` (the convention of ``affine_grid``).
  Affine matrices have last row ``[0, 0, 1]``; projective ones need not.
* Consequently ``warp(x, rotation_matrix(a))`` shows the content turned **counter-clockwise on screen**
  by ``a`` radians (``a = pi/2`` equals ``torch.rot90(x, 1, dims=(-2, -1))``), and
  ``warp(x, translation_matrix(tx, 0))`` moves the content **left** by ``tx`` (it samples at ``p + t``).
* Composition: ``warp(warp(x, A), B) == warp(x, compose(A, B))`` with ``compose(A, B) = A @ B``.
  Iterative STNs use this: the running matrix ``M`` becomes ``M @ delta`` and the *original* image is
  resampled once with it.
* Matrices are built as ``A = T(t) @ R(angle) @ Sh(shear) @ S(sx, sy)`` (shear is the factor ``k`` in
  ``x' = x + k y``); :func:`decompose` inverts this factorisation.
* Content parameters (angle counter-clockwise on screen, magnification, shear, shift in pixels, about
  a centre) become sampling matrices in one place: :func:`out_to_in_from_content` and its inverse
  :func:`content_from_out_to_in` (:mod:`stnlab.geometry.content`).
* Normalised coordinates of a non-square image are stretched: a "rotation" is a true rotation only
  on square images (all the papers' data sets are square).
"""

from stnlab.geometry.content import content_from_out_to_in, out_to_in_from_content
from stnlab.geometry.families import FAMILIES, family_matrix, family_size
from stnlab.geometry.matrices import (
    affine_matrix,
    compose,
    decompose,
    identity,
    invert,
    pixels_to_normalized,
    rotation_matrix,
    scale_matrix,
    shear_matrix,
    to_homogeneous,
    translation_matrix,
)
from stnlab.geometry.warp import is_affine, warp

__all__ = [
    "FAMILIES",
    "affine_matrix",
    "compose",
    "content_from_out_to_in",
    "decompose",
    "family_matrix",
    "family_size",
    "identity",
    "invert",
    "is_affine",
    "out_to_in_from_content",
    "pixels_to_normalized",
    "rotation_matrix",
    "scale_matrix",
    "shear_matrix",
    "to_homogeneous",
    "translation_matrix",
    "warp",
]
