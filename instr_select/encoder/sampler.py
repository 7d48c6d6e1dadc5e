"""The batch sampler for in-batch negatives (imported lazily: it needs sentence-transformers)."""

from __future__ import annotations

from collections.abc import Sequence

from sentence_transformers.base.sampler import NoDuplicatesBatchSampler


class NoDuplicateGroupsBatchSampler(NoDuplicatesBatchSampler):
    """The trainer's no-duplicates sampler that also keeps at most one pair per positive group in a batch,
    so no in-batch negative is secretly a positive. ``groups[i]`` is row i's group key."""

    def __init__(self, dataset, *args, groups: Sequence[str] = (), **kwargs) -> None:
        super().__init__(dataset, *args, **kwargs)
        if len(groups) != len(dataset):
            raise ValueError(f"groups has {len(groups)} entries for {len(dataset)} rows")
        self.groups = list(groups)

    def _iter_one_pass(self, get_sample_values, has_overlap):
        def values(index: int):
            return get_sample_values(index) | {"\x00group:" + self.groups[index]}

        return super()._iter_one_pass(values, has_overlap)
