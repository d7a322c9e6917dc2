"""SYNTHETIC angiographic runs with known iodine and known motion (for tests, benchmarks and the demo).

A run is a sequence of detector images ``I_t = Poisson(I0 · exp(−(A(x + u_t(x)) + D_t(x))))`` (Beer–Lambert
law, counts per pixel) where

* ``A`` is the anatomical background line integral (dimensionless, ``∫ μ dl``): a water-equivalent body,
  spine with vertebrae, ribs, liver and bowel gas, with a smooth texture;
* ``u_t`` is the known displacement field of frame ``t`` (pixels; ``u_0 = 0``): respiratory motion (a
  craniocaudal sinusoid, uniform for ``motion="rigid"``, fading towards the spine for ``"deformable"``) plus,
  for ``"deformable"``, local bowel peristalsis (moving Gaussian bumps in the lower abdomen);
* ``D_t`` is the iodine line integral ``μ_I · c(t) · chord(x + u_t(x))``: a branching hepatic-artery tree
  (Murray's law radii, ``r_child = 2^(−1/3) r_parent``; Murray 1926) and a hypervascular tumour blush, each
  filled by a gamma-variate bolus ``c(t) = ((t − t0)/tmax)^α · exp(α(1 − (t − t0)/tmax))`` (peak 1 at
  ``t0 + tmax``; Thompson et al., Circ Res 1964) delayed along the tree.

``A``, ``u_t`` and ``D_t`` are returned, so a subtraction can be compared with the analytic truth
``log(mask) − log(frame) = D_t`` (after perfect registration, up to Poisson noise). Everything is computer
generated and seeded; it is not patient data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["AngioRun", "gamma_variate", "simulate_angio_run", "warp_image"]

SYNTHETIC_RUN_NOTE = "SYNTHETIC angiographic run (computer-generated phantom), not patient data."


@dataclass
class AngioRun:
    """A synthetic run and its ground truth.

    Attributes:
        frames: detector counts, float32 (n, rows, cols).
        times_s: acquisition time of each frame (s).
        iodine: true iodine line integral ``D_t`` in frame coordinates (n, rows, cols), log units.
        background: anatomical line integral ``A`` of the reference (first) frame (rows, cols).
        displacement: true backward displacement ``u_t`` (n, 2, rows, cols), pixels (row, col):
            frame ``t`` shows the reference anatomy at ``x + u_t(x)``.
        vessel_mask: pixels inside the arterial tree (reference frame) (rows, cols).
        tumour_mask: pixels inside the tumour blush (reference frame).
        i0: unattenuated counts per pixel.
        arrival_frame: first frame with iodine (all earlier frames are contrast-free).
        parameters: everything else used to make the run.
    """

    frames: np.ndarray
    times_s: np.ndarray
    iodine: np.ndarray
    background: np.ndarray
    displacement: np.ndarray
    vessel_mask: np.ndarray
    tumour_mask: np.ndarray
    i0: float
    arrival_frame: int
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def last_contrast_free_frame(self) -> int:
        """Index of the last frame without iodine (the ideal mask)."""
        return self.arrival_frame - 1


def gamma_variate(t: np.ndarray, t0: float, tmax: float, alpha: float = 3.0) -> np.ndarray:
    """Gamma-variate bolus normalised to peak 1 at ``t0 + tmax`` and 0 before ``t0``.

    ``c(t) = ((t − t0)/tmax)^α · exp(α (1 − (t − t0)/tmax))`` for ``t > t0`` (Thompson et al., Circ Res 1964;
    peak-normalised form of Madsen, Phys Med Biol 1992).

    Args:
        t: times (s).
        t0: arrival time (s).
        tmax: time from arrival to peak (s), > 0.
        alpha: shape (> 0).

    Returns:
        The concentration relative to the peak, same shape as ``t``.
    """
    s = np.clip((np.asarray(t, dtype=float) - t0) / tmax, 0.0, None)
    with np.errstate(divide="ignore"):
        out = np.where(s > 0, s**alpha * np.exp(alpha * (1.0 - s)), 0.0)
    return out


def warp_image(image: np.ndarray, displacement: np.ndarray, order: int = 1) -> np.ndarray:
    """Sample ``image`` at ``x + displacement(x)`` (backward warp, edge values outside).

    Args:
        image: (rows, cols).
        displacement: (2, rows, cols) in pixels (row, col).
        order: spline order of the interpolation (1 = bilinear).

    Returns:
        The warped image, float32.
    """
    from scipy.ndimage import map_coordinates

    rows, cols = image.shape
    grid = np.mgrid[0:rows, 0:cols].astype(np.float32)
    return map_coordinates(image.astype(np.float32, copy=False), grid + displacement, order=order, mode="nearest")


def _segment_chord(rr: np.ndarray, cc: np.ndarray, p0: np.ndarray, p1: np.ndarray, radius: float) -> np.ndarray:
    """Chord length ``2·sqrt(r² − d²)`` through a cylinder of radius ``r`` around segment p0–p1 (pixels)."""
    d = p1 - p0
    length2 = float(d @ d) or 1e-9
    t = np.clip(((rr - p0[0]) * d[0] + (cc - p0[1]) * d[1]) / length2, 0.0, 1.0)
    dist2 = (rr - p0[0] - t * d[0]) ** 2 + (cc - p0[1] - t * d[1]) ** 2
    return 2.0 * np.sqrt(np.clip(radius**2 - dist2, 0.0, None))


def _vessel_tree(rng: np.random.Generator, rows: int, cols: int, depth: int) -> list[tuple[np.ndarray, np.ndarray, float, int]]:
    """Segments (start, end, radius px, generation) of a branching tree growing up and to the image left."""
    scale = min(rows, cols) / 256.0
    segments: list[tuple[np.ndarray, np.ndarray, float, int]] = []
    stack = [(np.array([0.80 * rows, 0.55 * cols]), np.deg2rad(-150.0), 3.4 * scale, 62.0 * scale, 0)]
    while stack:
        start, angle, radius, length, generation = stack.pop()
        end = start + length * np.array([np.sin(angle), np.cos(angle)])  # (row, col) direction
        end = np.clip(end, [0.05 * rows, 0.05 * cols], [0.95 * rows, 0.95 * cols])
        segments.append((start, end, radius, generation))
        if generation + 1 < depth:
            child_radius = radius * 2.0 ** (-1.0 / 3.0)  # Murray's law, symmetric bifurcation
            for sign in (-1.0, 1.0):
                spread = np.deg2rad(rng.uniform(22.0, 38.0))
                stack.append((end, angle + sign * spread, child_radius, length * rng.uniform(0.72, 0.88),
                              generation + 1))
    return segments


def _background(rng: np.random.Generator, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background line integral and the weights of the respiratory and bowel motion."""
    from scipy.ndimage import gaussian_filter

    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    y, x = rr / rows - 0.5, cc / cols - 0.5
    body = 3.6 * np.sqrt(np.clip(1.0 - (x / 0.62) ** 2, 0.0, None)) + 0.4  # water-equivalent thickness × μ
    liver = 0.35 * np.sqrt(np.clip(1.0 - ((x + 0.15) / 0.30) ** 2 - ((y + 0.18) / 0.22) ** 2, 0.0, None))
    spine_x = 0.08
    spine = np.where(np.abs(x - spine_x) < 0.07, 0.9, 0.0)
    vertebrae = 0.35 * (np.cos(2 * np.pi * y / 0.16) > -0.2) * (np.abs(x - spine_x) < 0.07)
    ribs = np.zeros_like(x)
    for k in range(5):
        centre = -0.45 + 0.13 * k
        curve = centre + 0.35 * (x - spine_x) ** 2
        ribs += 0.30 * (np.abs(y - curve) < 0.018) * (np.abs(x - spine_x) > 0.08) * (np.abs(x) < 0.55)
    gas = np.zeros_like(x)
    for _ in range(6):
        gy, gx = rng.uniform(0.10, 0.42), rng.uniform(-0.35, 0.30)
        gas -= 0.45 * np.exp(-(((y - gy) / 0.035) ** 2 + ((x - gx) / 0.05) ** 2))
    texture = gaussian_filter(rng.standard_normal((rows, cols)), sigma=max(rows, cols) / 40.0)
    texture *= 0.05 / max(float(texture.std()), 1e-9)
    edges = gaussian_filter(spine + vertebrae + ribs, sigma=0.8)
    background = body + liver + edges + gas + texture
    respiratory_weight = 1.0 - 0.8 * np.exp(-(((x - spine_x) / 0.10) ** 2))
    bowel_weight = 1.0 / (1.0 + np.exp(-(y - 0.05) / 0.04))
    return background.astype(np.float32), respiratory_weight, bowel_weight


def simulate_angio_run(
    n_frames: int = 20,
    shape: tuple[int, int] = (256, 256),
    *,
    motion: Literal["none", "rigid", "deformable"] = "deformable",
    frame_rate: float = 3.0,
    i0: float = 2.0e5,
    respiratory_amplitude_px: float | None = None,
    bowel_amplitude_px: float | None = None,
    arrival_s: float = 1.8,
    peak_iodine: float = 0.35,
    tree_depth: int = 6,
    noise: bool = True,
    seed: int = 0,
) -> AngioRun:
    """Simulate a SYNTHETIC hepatic angiographic run with known iodine and known motion.

    Args:
        n_frames: number of frames (≥ 2).
        shape: (rows, cols).
        motion: "none", "rigid" (uniform craniocaudal respiratory translation) or "deformable" (respiratory
            motion fading towards the spine plus bowel peristalsis).
        frame_rate: frames per second.
        i0: unattenuated detector counts per pixel (sets the Poisson noise).
        respiratory_amplitude_px: peak respiratory displacement (pixels); default 3 % of the rows.
        bowel_amplitude_px: peak bowel displacement (pixels); default 2 % of the rows.
        arrival_s: bolus arrival time in the root artery (s).
        peak_iodine: iodine line integral ``μ_I · c · L`` at peak concentration through the root artery's
            diameter (log units).
        tree_depth: generations of the arterial tree.
        noise: draw Poisson counts (False: the expected counts).
        seed: random seed (tree, background, noise).

    Returns:
        The :class:`AngioRun` with frames and ground truth.
    """
    if n_frames < 2:
        raise ValueError(f"A run needs at least 2 frames, got {n_frames}")
    if motion not in ("none", "rigid", "deformable"):
        raise ValueError(f"motion must be 'none', 'rigid' or 'deformable', got {motion!r}")
    rng = np.random.default_rng(seed)
    rows, cols = (int(s) for s in shape)
    times = np.arange(n_frames) / float(frame_rate)
    resp_amp = 0.03 * rows if respiratory_amplitude_px is None else float(respiratory_amplitude_px)
    bowel_amp = 0.02 * rows if bowel_amplitude_px is None else float(bowel_amplitude_px)

    background, resp_weight, bowel_weight = _background(rng, rows, cols)
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float32)

    # Arterial tree: chord length per generation (reference coordinates), then per-generation bolus delay.
    segments = _vessel_tree(rng, rows, cols, tree_depth)
    root_radius = segments[0][2]
    chord_by_generation = np.zeros((tree_depth, rows, cols), dtype=np.float32)
    for p0, p1, radius, generation in segments:
        pad = radius + 2
        r0, r1 = int(max(min(p0[0], p1[0]) - pad, 0)), int(min(max(p0[0], p1[0]) + pad + 1, rows))
        c0, c1 = int(max(min(p0[1], p1[1]) - pad, 0)), int(min(max(p0[1], p1[1]) + pad + 1, cols))
        if r1 <= r0 or c1 <= c0:
            continue
        chord = _segment_chord(rr[r0:r1, c0:c1], cc[r0:r1, c0:c1], p0, p1, radius)
        view = chord_by_generation[generation, r0:r1, c0:c1]
        np.maximum(view, chord, out=view)
    # A pixel belongs to the first generation that covers it (no double counting at joints).
    covered = np.zeros((rows, cols), dtype=bool)
    for generation in range(tree_depth):
        chord_by_generation[generation][covered] = 0.0
        covered |= chord_by_generation[generation] > 0
    mu_iodine = peak_iodine / (2.0 * root_radius)
    # Tumour blush: a sphere near the end of the tree, filled later and more slowly.
    tip = segments[-1][1]
    tumour_radius = 0.06 * min(rows, cols)
    tumour_centre = np.clip(tip, tumour_radius + 2, [rows - tumour_radius - 2, cols - tumour_radius - 2])
    tumour_chord = 2.0 * np.sqrt(np.clip(tumour_radius**2 - (rr - tumour_centre[0]) ** 2
                                         - (cc - tumour_centre[1]) ** 2, 0.0, None))
    tumour_mu = 0.25 * mu_iodine

    generation_delay_s, tmax_s, tumour_delay_s, tumour_tmax_s = 0.25, 1.6, 1.5, 2.5
    curves = np.stack([gamma_variate(times, arrival_s + g * generation_delay_s, tmax_s) for g in range(tree_depth)])
    tumour_curve = gamma_variate(times, arrival_s + tumour_delay_s, tumour_tmax_s)

    # Motion fields (backward, pixels).
    displacement = np.zeros((n_frames, 2, rows, cols), dtype=np.float32)
    breathing = resp_amp * np.sin(2.0 * np.pi * times / 4.0)  # 15 breaths/min
    bowel_phase = rng.uniform(0, 2 * np.pi, size=3)
    bowel_centres = [(rng.uniform(0.62, 0.85) * rows, rng.uniform(0.2, 0.8) * cols) for _ in range(3)]
    for t in range(n_frames):
        if motion == "rigid":
            displacement[t, 0] = breathing[t]
            displacement[t, 1] = 0.3 * breathing[t]
        elif motion == "deformable":
            displacement[t, 0] = breathing[t] * resp_weight
            displacement[t, 1] = 0.3 * breathing[t] * resp_weight
            for (cy, cx), phase in zip(bowel_centres, bowel_phase, strict=True):
                bump = np.exp(-((rr - cy) ** 2 + (cc - cx) ** 2) / (2 * (0.08 * rows) ** 2)) * bowel_weight
                amplitude = bowel_amp * (np.sin(2 * np.pi * times[t] / 6.0 + phase) - np.sin(phase))
                displacement[t, 0] += amplitude * bump
                displacement[t, 1] += 0.7 * amplitude * bump

    frames = np.empty((n_frames, rows, cols), dtype=np.float32)
    iodine = np.empty((n_frames, rows, cols), dtype=np.float32)
    for t in range(n_frames):
        iodine_ref = mu_iodine * np.tensordot(curves[:, t], chord_by_generation, axes=1)
        iodine_ref = iodine_ref + tumour_mu * tumour_curve[t] * tumour_chord
        if motion == "none" or t == 0:
            moved_background, iodine[t] = background, iodine_ref
        else:
            moved_background = warp_image(background, displacement[t])
            iodine[t] = warp_image(iodine_ref.astype(np.float32), displacement[t])
        expected = i0 * np.exp(-(moved_background.astype(np.float64) + iodine[t]))
        frames[t] = rng.poisson(expected) if noise else expected

    concentration = np.concatenate([curves, tumour_curve[None]]).max(axis=0)
    arrival = int(np.argmax(concentration > 0)) if np.any(concentration > 0) else n_frames
    return AngioRun(
        frames=frames,
        times_s=times,
        iodine=iodine,
        background=background,
        displacement=displacement,
        vessel_mask=covered,
        tumour_mask=tumour_chord > 0,
        i0=float(i0),
        arrival_frame=arrival,
        parameters={
            "synthetic": True,
            "note": SYNTHETIC_RUN_NOTE,
            "seed": int(seed),
            "motion": motion,
            "frame_rate": float(frame_rate),
            "respiratory_amplitude_px": resp_amp if motion != "none" else 0.0,
            "bowel_amplitude_px": bowel_amp if motion == "deformable" else 0.0,
            "arrival_s": float(arrival_s),
            "generation_delay_s": generation_delay_s,
            "tmax_s": tmax_s,
            "tumour_delay_s": tumour_delay_s,
            "tumour_tmax_s": tumour_tmax_s,
            "mu_iodine_per_px": float(mu_iodine),
            "tumour_mu_per_px": float(tumour_mu),
            "root_radius_px": float(root_radius),
            "tumour_centre_px": [float(v) for v in tumour_centre],
            "tumour_radius_px": float(tumour_radius),
            "peak_iodine": float(peak_iodine),
        },
    )
