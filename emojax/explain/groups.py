"""Which input values are permuted together: a ``Group`` marks values of the rPPG input
``(T, Cr)``, of the landmark input ``(T, Cf)`` and of the voice input ``(T, Cv)`` (0 channels
in a run without voice).

Ready-made groupings (``GROUPINGS``): ``modality`` (rPPG vs visual, the paper's Table 2, and
the voice in a run that reads it),
``channel`` (every input channel over all frames: R, G, B or pulse / heart rate / quality,
each landmark coordinate and each voice channel), ``region`` (the parts a person can name: the
face's jaw, brows, nose, eyes, mouth, with their velocities in the improved inputs, and, in a
run that reads the voice, its groups :data:`VOICE_GROUPS` beside them) and ``time`` (equal windows of frames; ``"time:20"`` for 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from ..features.landmarks import REGIONS
from ..features.modalities import MODALITIES, TABLE_TITLES
from ..data.transforms import VOICE_NAMES
from ..features.voice import GROUPS as VOICE_DESCRIPTOR_GROUPS

#: rPPG channel names by input preset
RPPG_CHANNELS = {"paper": ("R", "G", "B"), "improved": ("pulse", "heart_rate", "quality")}
GROUPINGS = ("modality", "channel", "region", "time")
#: each modality's group in the ``modality`` grouping (Table 2's shares; the landmarks keep the
#: paper's name, "visual"), in MODALITIES order
MODALITY_GROUP = {"rppg": "rppg", "face": "visual", "voice": "voice"}
#: each ``modality`` group's title where a person reads it (``features.modalities.TABLE_TITLES``)
GROUP_TITLES = {MODALITY_GROUP[m]: TABLE_TITLES[m] for m in MODALITIES}
#: the voice's groups in the ``region`` grouping: ``features.voice.GROUPS`` (prosody, voice
#: quality, formants, spectral balance) as voice channels; ``voiced`` (whether openSMILE found
#: voicing in the frame, ``data.transforms.VOICE_NAMES``) goes with the prosody, as the F0's presence
VOICE_GROUPS = {g: tuple(VOICE_NAMES.index(d) for d in (*names, *(("voiced",) if g == "prosody" else ())))
                for g, names in VOICE_DESCRIPTOR_GROUPS.items()}
TIME_WINDOWS = 10


@dataclass(frozen=True, eq=False)
class Group:
    """A named set of input values: boolean masks ``rppg (T, Cr)`` and ``face (T, Cf)``.

    A modality's validity at a frame belongs to the group when the group holds every channel
    of that modality at that frame (``cover``): permuting the group then moves that validity
    with the values (a donor without a pulse there gives none). A group that holds only some
    of a modality's channels at a frame moves those values, and the receiver's validity stays."""

    name: str
    rppg: np.ndarray
    face: np.ndarray
    voice: np.ndarray | None = None   # None: a run without voice (0 channels)

    def __post_init__(self):
        if self.voice is None:
            object.__setattr__(self, "voice", np.zeros((len(self.rppg), 0), bool))

    @property
    def parts(self) -> tuple[np.ndarray, ...]:
        """The group's mask of each modality's input, in MODALITIES order."""
        return tuple(getattr(self, m) for m in MODALITIES)

    @property
    def size(self) -> int:
        return int(sum(p.sum() for p in self.parts))

    @property
    def cover(self) -> np.ndarray:
        """``(T, M)``: the frames and modalities (``MODALITIES`` order) whose validity the group
        holds (a modality of 0 channels: none, as no video has it)."""
        return np.stack([p.all(axis=1) & (p.shape[1] > 0) for p in self.parts], axis=1)


@dataclass(frozen=True)
class Layout:
    """The shape and meaning of a model's inputs."""

    length: int        # T
    rppg_channels: int  # Cr
    face_channels: int  # Cf
    preset: str = "improved"
    voice_channels: int = 0  # Cv (0: the run does not read the voice)

    def width(self, modality: str) -> int:
        return getattr(self, f"{modality}_channels")

    def empty(self) -> tuple[np.ndarray, ...]:
        """An empty mask of each modality's input, in MODALITIES order."""
        return tuple(np.zeros((self.length, self.width(m)), bool) for m in MODALITIES)

    def landmark_channels(self, points: Iterable[int]) -> list[int]:
        """The landmark-input channels of dlib points ``points`` (x, y; and dx, dy when the
        input carries velocities)."""
        if self.face_channels not in (136, 272):
            raise ValueError(f"landmark regions need 68-point inputs (136 or 272 channels), not {self.face_channels}")
        cols = [c for p in points for c in (2 * p, 2 * p + 1)]
        return cols + [136 + c for c in cols] if self.face_channels == 272 else cols

    def channel_names(self) -> tuple[list[str], list[str]]:
        r = list(RPPG_CHANNELS.get(self.preset, ()))
        if len(r) != self.rppg_channels:
            r = [f"rppg{c}" for c in range(self.rppg_channels)]
        if self.face_channels in (136, 272):
            f = [f"{a}{p}" for p in range(68) for a in "xy"]
            f += [f"d{n}" for n in f] if self.face_channels == 272 else []
        else:
            f = [f"face{c}" for c in range(self.face_channels)]
        return r, f

    def voice_names(self) -> list[str]:
        return list(VOICE_NAMES) if self.voice_channels == len(VOICE_NAMES) else \
            [f"voice{c}" for c in range(self.voice_channels)]


def _group(layout: Layout, name: str, rppg_cols=(), face_cols=(), frames=slice(None), voice_cols=()) -> Group:
    parts = layout.empty()
    rows = np.zeros(layout.length, bool)
    rows[frames] = True
    for part, cols in zip(parts, (rppg_cols, face_cols, voice_cols)):
        part[np.ix_(rows, list(cols))] = True
    return Group(name, *parts)


def ready_groups(kind: str, layout: Layout) -> list[Group]:
    """The groups of a ready-made grouping (see ``GROUPINGS``; ``"time:N"`` for N windows)."""
    base, _, arg = kind.partition(":")
    if base not in GROUPINGS or (arg and base != "time"):
        raise ValueError(f"unknown grouping {kind!r}; choose from {list(GROUPINGS)} (or 'time:N')")
    cr, cf, cv = range(layout.rppg_channels), range(layout.face_channels), range(layout.voice_channels)
    if base == "modality":
        cols = {"rppg": cr, "face": cf, "voice": cv}
        return [_group(layout, MODALITY_GROUP[m], **{f"{m}_cols": cols[m]}) for m in MODALITIES if len(cols[m])]
    if base == "channel":
        rn, fn = layout.channel_names()
        return ([_group(layout, f"rppg:{n}", rppg_cols=[c]) for c, n in enumerate(rn)]
                + [_group(layout, f"face:{n}", face_cols=[c]) for c, n in enumerate(fn)]
                + [_group(layout, f"voice:{n}", voice_cols=[c]) for c, n in enumerate(layout.voice_names())])
    if base == "region":
        face = [_group(layout, r, face_cols=layout.landmark_channels(pts)) for r, pts in REGIONS.items()] \
            if layout.face_channels else []
        voice = [_group(layout, g, voice_cols=cols) for g, cols in VOICE_GROUPS.items()] \
            if layout.voice_channels == len(VOICE_NAMES) else []
        if not face and not voice:
            raise ValueError("the region grouping needs the landmarks or the voice; the run reads neither")
        return face + voice
    try:
        n = int(arg) if arg else TIME_WINDOWS
    except ValueError:
        raise ValueError(f"time windows: {arg!r} is not a number (write e.g. 'time:10')") from None
    if not 1 <= n <= layout.length:
        raise ValueError(f"time windows: {n} windows do not fit {layout.length} frames")
    edges = np.linspace(0, layout.length, n + 1).round().astype(int)
    return [_group(layout, f"t{a}-{b - 1}", rppg_cols=cr, face_cols=cf, voice_cols=cv, frames=slice(a, b))
            for a, b in zip(edges[:-1], edges[1:])]


def single_columns(layout: Layout) -> list[Group]:
    """One group per input value, in the order of the flattened inputs ``[rppg | face | voice]``
    (what scikit-learn permutes when given ``flat_view``'s columns)."""
    out = []
    for i, key in enumerate(MODALITIES):
        for t in range(layout.length):
            for ch in range(layout.width(key)):
                parts = layout.empty()
                parts[i][t, ch] = True
                out.append(Group(f"{key}[{t},{ch}]", *parts))
    return out


def _selection(sel, shape: tuple[int, int], where: str) -> np.ndarray:
    """A user's selection of one input's values as a boolean ``shape`` mask."""
    out = np.zeros(shape, bool)
    if sel is None or sel is False:
        return out
    if sel is True or (isinstance(sel, str) and sel == "all"):
        out[:] = True
        return out
    arr = np.asarray(sel) if not isinstance(sel, tuple) else None
    if arr is not None and arr.size == 0:
        return out
    if arr is not None and arr.dtype == bool:
        if arr.shape != shape:
            raise ValueError(f"{where}: a boolean mask must have the input's shape {shape}, not {arr.shape}")
        return arr.copy()
    frames, chans = sel if isinstance(sel, tuple) else (slice(None), sel)
    rows = np.zeros(shape[0], bool)
    cols = np.zeros(shape[1], bool)
    try:
        rows[frames] = True
        cols[np.atleast_1d(chans) if not isinstance(chans, slice) else chans] = True
    except IndexError as e:
        raise ValueError(f"{where}: {e} (input shape {shape})") from None
    out[np.ix_(rows, cols)] = True
    return out


def resolve(groups, layout: Layout, *, disjoint: bool = False) -> list[Group]:
    """Turn ``groups`` into a list of ``Group``: ``None`` (every single value), a ready-made
    grouping name, a list of names / ``Group`` objects, or a mapping ``name -> {"rppg": sel,
    "face": sel}`` where ``sel`` is ``True`` (all), channel indices (all frames),
    ``(frames, channels)`` or a boolean mask of the input's shape. ``disjoint``: refuse groups
    that share a value (needed when their importances are shares of a whole)."""
    if groups is None:
        out = single_columns(layout)
    elif isinstance(groups, str):
        out = ready_groups(groups, layout)
    elif isinstance(groups, Mapping):
        out = []
        for name, spec in groups.items():
            if not isinstance(spec, Mapping) or not set(spec) <= set(MODALITIES):
                raise ValueError(f"group {name!r}: give a mapping with keys of {list(MODALITIES)}, not {spec!r}")
            out.append(Group(str(name), *(_selection(spec.get(m), (layout.length, layout.width(m)),
                                                     f"group {name!r} {m}") for m in MODALITIES)))
    else:
        out = []
        for g in groups:
            out.extend(ready_groups(g, layout) if isinstance(g, str) else [_checked(g, layout)])
    _validate(out, disjoint)
    return out


def _checked(g, layout: Layout) -> Group:
    if not isinstance(g, Group):
        raise ValueError(f"a group must be a grouping name or a Group, not {type(g).__name__}")
    want = tuple((layout.length, layout.width(m)) for m in MODALITIES)
    if tuple(p.shape for p in g.parts) != want:
        raise ValueError(f"group {g.name!r} has masks {[p.shape for p in g.parts]}; the inputs are {list(want)}")
    return g


def _validate(groups: list[Group], disjoint: bool) -> None:
    if not groups:
        raise ValueError("no groups to permute")
    names = [g.name for g in groups]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"group names must be unique; repeated: {dupes}")
    empty = [g.name for g in groups if g.size == 0]
    if empty:
        raise ValueError(f"groups select no input value: {empty}")
    if disjoint:
        seen = [np.zeros_like(p, int) for p in groups[0].parts]
        for g in groups:
            for s, p in zip(seen, g.parts):
                s += p
        if any(s.size and s.max() > 1 for s in seen):
            shared = [g.name for g in groups if any((s[p] > 1).any() for s, p in zip(seen, g.parts))]
            raise ValueError(f"these groups overlap, but shares of a whole need disjoint groups: {shared}")
