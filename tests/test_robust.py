"""Bad input, faults and several users: each case refuses clearly or keeps working, on real media."""

from __future__ import annotations

import pytest

from emojax.errors import VideoError

from .conftest import lie_about_length, read_all, shared, write_video


@pytest.fixture(scope="module")
def grid_frames():
    return read_all(shared("grid") / "bbaf2n.mpg")


def test_a_header_that_lies_about_its_length_costs_no_memory(tmp_path, grid_frames, extractor):
    """A real face in an mp4 whose header claims ten million frames: the read is called
    truncated (refused unless partial data is accepted), and what is kept is exactly the
    honest file's record, in arrays the size of what was read (no views of a buffer sized
    from the claim). Peak memory against an honest file is in benchmarks/extract.py."""
    honest_file = write_video(tmp_path / "honest.mp4", grid_frames, 25.0)
    honest = extractor(honest_file)
    liar = lie_about_length(honest_file, tmp_path / "liar.mp4", claim=10_000_000)
    with pytest.raises(VideoError, match=r"liar\.mp4: not whole \(truncated: read 75 of the 10000000 frames"):
        extractor(liar)
    kept = extractor(liar, accept_partial=True)
    assert kept.partial and len(kept) == len(honest) == len(grid_frames)
    for name in kept.ARRAYS:
        a = getattr(kept, name)
        assert a.base is None or a.base.nbytes == a.nbytes, f"{name} is a view of a larger buffer"
        assert a.nbytes <= getattr(honest, name).nbytes
        assert a.tobytes() == getattr(honest, name).tobytes(), name
