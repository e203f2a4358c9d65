"""The split is stratified, complete, disjoint, seeded and independent of row order."""

import numpy as np
import pytest

from agn_saliency.learn.split import stratified_split


def sample(n1=68, n2=214, ni=52, seed=0):
    label = np.array(["type1"] * n1 + ["type2"] * n2 + ["intermediate"] * ni + ["not_agn"] * 5)
    specid = np.array([f"{i:04d}-51000-{i % 640 + 1:04d}" for i in range(len(label))])
    order = np.random.default_rng(seed).permutation(len(label))
    return specid[order], label[order]


def test_split_is_stratified_and_complete():
    specid, label = sample()
    subset = stratified_split(specid, label, 0.2, 0.2, seed=1)
    assert set(subset[label == "not_agn"]) == {"unlabelled"}
    labelled = label != "not_agn"
    assert set(subset[labelled]) == {"train", "validation", "test"}
    for name in ("type1", "type2", "intermediate"):
        members = label == name
        test_share = (subset[members] == "test").mean()
        validation_share = (subset[members] == "validation").mean()
        assert abs(test_share - 0.2) < 0.03, (name, test_share)
        assert abs(validation_share - 0.16) < 0.03, (name, validation_share)  # 20 % of the remaining 80 %


def test_split_is_seeded_and_independent_of_order():
    specid, label = sample()
    first = dict(zip(specid, stratified_split(specid, label, 0.2, 0.2, seed=3)))
    shuffled_id, shuffled_label = sample(seed=99)
    second = dict(zip(shuffled_id, stratified_split(shuffled_id, shuffled_label, 0.2, 0.2, seed=3)))
    assert first == second
    other = dict(zip(specid, stratified_split(specid, label, 0.2, 0.2, seed=4)))
    assert other != first


def test_split_rejects_a_class_too_small_to_stratify():
    specid, label = sample(ni=2)
    with pytest.raises(ValueError, match=r"too few spectra.*split.test_fraction.*'intermediate': 2"):
        stratified_split(specid, label, 0.2, 0.2, seed=0)
