"""The models, their checkpoints and the scikit-learn facade, on small synthetic inputs."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from emojax import EmotionClassifier
from emojax.errors import CheckpointError
from emojax.models import ModelSpec, build_model
from emojax.training import checkpoint
from emojax.training.config import preset
from emojax.training.loop import Split, fit, make_optimizer, predict_logits

pytestmark = pytest.mark.timeout(300)


def toy_arrays(n=64, t=40, seed=0):
    """Class = (sign of a face channel's level, a pulse channel's frequency): both needed."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    times = np.arange(t) / 10
    rppg = rng.normal(0, 0.3, (n, t, 3)).astype(np.float32)
    rppg[:, :, 0] += np.sin(2 * np.pi * np.where(y[:, None] >= 2, 1.5, 0.5) * times)
    face = rng.normal(0, 1, (n, t, 8)).astype(np.float32)
    face[:, :, 0] += np.where(y % 2 == 0, 1.0, -1.0)[:, None]
    mask = np.ones((n, t, 3), bool)          # a mask per modality: pulse, landmarks, voice (none here)
    mask[..., 2] = False
    mask[::3, -5:] = False
    mask[1::7, :8, 0] = False                 # no pulse yet where the face already is
    return {"rppg": rppg, "face": face, "mask": mask}, y


SPEC = ModelSpec(preset="improved", rppg_channels=3, face_channels=8, length=40, n_classes=4)


def leaves(node):
    return jax.tree.leaves(checkpoint.pure_state(node))


@pytest.mark.parametrize("name", ["rppg", "face", "early_fusion"])
@pytest.mark.parametrize("arch", ["paper", "improved"])
def test_checkpoint_round_trips_bit_exactly(tmp_path, name, arch):
    spec = ModelSpec(**{**SPEC.to_dict(), "preset": arch})
    a, y = toy_arrays()
    model = build_model(name, spec, seed=1)
    model.fit_inputs(Split.of(a).inputs, a["mask"])
    fit(model, Split.of(a, y=y), None, preset(arch, epochs=2, batch_size=16), n_classes=4)
    opt = make_optimizer(model, preset(arch), 4)
    checkpoint.save(tmp_path / "m.msgpack", {"model": model, "optimizer": opt})
    other = build_model(name, spec, seed=2)
    other_opt = make_optimizer(other, preset(arch), 4)
    assert not all(np.array_equal(p, q) for p, q in zip(leaves(model), leaves(other)))
    checkpoint.load_into(tmp_path / "m.msgpack", {"model": other, "optimizer": other_opt})
    assert all(np.array_equal(p, q) and p.dtype == q.dtype for p, q in zip(leaves(model), leaves(other)))
    assert all(np.array_equal(p, q) for p, q in zip(leaves(opt), leaves(other_opt)))
    split = Split.of(a)
    assert np.array_equal(predict_logits(model, split), predict_logits(other, split))


def test_wrong_shape_and_truncated_checkpoints_are_clear_errors(tmp_path):
    model = build_model("early_fusion", SPEC)
    path = tmp_path / "m.msgpack"
    checkpoint.save(path, {"model": model})
    wider = build_model("early_fusion", ModelSpec(**{**SPEC.to_dict(), "face_channels": 9}))
    before = leaves(wider)
    with pytest.raises(CheckpointError, match=r"m\.msgpack.*face_in/kernel.*float32\[8, 32\].*expects float32\[9, 32\]"):
        checkpoint.load_into(path, {"model": wider})
    assert all(np.array_equal(p, q) for p, q in zip(before, leaves(wider)))  # nothing half-loaded
    with pytest.raises(CheckpointError, match="do not match the model"):
        checkpoint.load_into(path, {"model": build_model("rppg", SPEC)})
    data = path.read_bytes()
    cut = tmp_path / "cut.msgpack"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.msgpack.*truncated or corrupt"):
        checkpoint.load_into(cut, {"model": build_model("early_fusion", SPEC)})
    junk = tmp_path / "junk.msgpack"
    junk.write_bytes(b"\x93\x01\x02\x03")
    with pytest.raises(CheckpointError, match="not an emojax checkpoint"):
        checkpoint.read(junk)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.read(tmp_path / "absent.msgpack")


def test_padding_does_not_change_a_prediction():
    a, _ = toy_arrays(n=4)
    for name in ("rppg", "face", "early_fusion"):
        model = build_model(name, SPEC)
        model.eval()
        noisy = {k: v.copy() for k, v in a.items()}
        noisy["rppg"][~a["mask"][..., 0]] = 1e3  # whatever lies under each modality's mask
        noisy["face"][~a["mask"][..., 1]] = -1e3
        assert np.allclose(predict_logits(model, Split.of(a)), predict_logits(model, Split.of(noisy)), atol=1e-5)


def test_the_papers_early_fusion_reads_only_the_frames_its_training_videos_have():
    """The arrays are padded to the longest video of the whole dataset; trained on videos of 25
    frames out of 40, the paper's early fusion has zero weights for frames 25-39 (the others at
    the initial scale of a 25-frame layer) and keeps them zero through training, so a test video
    of 40 frames gets the prediction of its first 25, as prediction cuts a longer video."""
    from emojax.training.fold_models import train_models

    a, y = toy_arrays(n=32, t=40)
    short = {k: v.copy() for k, v in a.items()}
    short["mask"][:, 25:] = False                          # the training videos end at frame 25
    spec = ModelSpec(preset="paper", rppg_channels=3, face_channels=8, length=40, n_classes=4)
    fresh = build_model("early_fusion", spec, seed=3)
    before = np.asarray(fresh.fc1.kernel[...]).reshape(40, 11, -1)
    model = train_models(("early_fusion",), Split.of(short, None, y), None, spec, preset("paper", epochs=3),
                         split=0)["early_fusion"]
    kernel = np.asarray(model.fc1.kernel[...]).reshape(40, 11, -1)
    assert not kernel[25:].any() and kernel[:25].any() and model.frames_read() == 25
    assert before[25:].any()                               # a fresh layer has weights there
    # before training, the kept weights were the fresh ones scaled to a 25-frame layer's initialisation
    rescaled = build_model("early_fusion", spec, seed=3)
    rescaled.fit_inputs(Split.of(short).inputs, short["mask"])
    assert np.allclose(np.asarray(rescaled.fc1.kernel[...]).reshape(40, 11, -1)[:25], before[:25] * np.sqrt(40 / 25))

    test, _ = toy_arrays(n=6, t=40, seed=1)                # 40 real frames each
    cut = {k: v.copy() for k, v in test.items()}
    cut["mask"][:, 25:] = False
    cut["rppg"][:, 25:], cut["face"][:, 25:] = 0.0, 0.0
    assert np.allclose(predict_logits(model, Split.of(test)), predict_logits(model, Split.of(cut)), atol=1e-5)
    # all training videos of full length: nothing is cut
    full = build_model("early_fusion", spec, seed=3)
    full.fit_inputs(Split.of(a).inputs, np.ones_like(a["mask"]))
    assert full.frames_read() == 40 and np.array_equal(np.asarray(full.fc1.kernel[...]).reshape(40, 11, -1), before)


def test_temporal_fusion_joins_a_frames_modalities_jointly_or_each_on_its_own():
    """``embed="joint"`` is one dense layer over a frame's concatenated channels (written as a
    layer per modality, summed); ``"each"`` embeds each modality to half the width; any other
    name is refused, naming the valid ones."""
    from flax import nnx

    from emojax.models import TemporalFusion

    a, _ = toy_arrays(n=3, t=12)
    joint = TemporalFusion({"rppg": 3, "face": 8}, 4, hidden=16, embed="joint", rngs=nnx.Rngs(0))
    z = joint.standardise(Split.of(a).inputs, tuple(a["mask"][..., i] for i in range(3)))
    r, f = (np.asarray(p) for p in joint.first(z))
    w = np.vstack([np.asarray(joint.rppg_in.kernel[...]), np.asarray(joint.face_in.kernel[...])])
    dense = np.concatenate([np.asarray(z[0]), np.asarray(z[1])], axis=-1) @ w + np.asarray(joint.rppg_in.bias[...])
    assert r.shape == f.shape == (3, 12, 16) and np.allclose(r + f, dense, atol=1e-5)
    each = TemporalFusion({"rppg": 3, "face": 8}, 4, hidden=16, embed="each", rngs=nnx.Rngs(0))
    assert [p.shape for p in each.first(z)] == [(3, 12, 8), (3, 12, 8)]
    with pytest.raises(ValueError, match="'each', 'joint'"):
        TemporalFusion({"rppg": 3, "face": 8}, 4, embed="sum", rngs=nnx.Rngs(0))


def test_classifier_is_a_scikit_learn_estimator_and_learns_both_modalities():
    from sklearn.base import clone

    a, y = toy_arrays(n=96)
    labels = np.array(["happy", "calm", "angry", "sad"])[y]
    clf = EmotionClassifier("early_fusion", epochs=60, seed=0)
    assert clone(clf).get_params() == clf.get_params()
    test = {k: v[64:] for k, v in a.items()}
    clf.fit({k: v[:64] for k, v in a.items()}, labels[:64])
    assert list(clf.classes_) == sorted(set(labels))
    proba = clf.predict_proba(test)
    assert proba.shape == (32, 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (clf.predict(test) == clf.classes_[proba.argmax(1)]).all()
    assert clf.score(test, labels[64:]) >= 0.9
    for unimodal in ("rppg", "face"):  # each alone sees one of the two axes
        assert EmotionClassifier(unimodal, epochs=60).fit({k: v[:64] for k, v in a.items()}, labels[:64]) \
            .score(test, labels[64:]) <= 0.7


def test_the_same_seed_gives_the_same_model():
    a, y = toy_arrays()
    p = [EmotionClassifier("late_fusion", epochs=5, seed=3).fit(a, y).predict_proba(a) for _ in range(2)]
    assert np.array_equal(p[0], p[1])
    q = EmotionClassifier("late_fusion", epochs=5, seed=4).fit(a, y).predict_proba(a)
    assert not np.array_equal(p[0], q)


def test_bad_inputs_are_clear_errors():
    a, y = toy_arrays(n=8)
    with pytest.raises(ValueError, match="not fitted"):
        EmotionClassifier().predict(a)
    with pytest.raises(ValueError, match="unknown model 'fusion'"):
        EmotionClassifier("fusion").fit(a, y)
    clf = EmotionClassifier("face", epochs=1).fit(a, y)
    with pytest.raises(ValueError, match=r"face channels 5 \(model: 8\)"):
        clf.predict({**a, "face": a["face"][:, :, :5]})
    with pytest.raises(ValueError, match="lack"):
        clf.predict({"rppg": a["rppg"]})
    with pytest.raises(ValueError, match="do not agree"):
        clf.predict({**a, "mask": a["mask"][:, :10]})
    with pytest.raises(ValueError, match="a mask per modality"):
        clf.predict({**a, "mask": a["mask"][..., 0]})
    with pytest.raises(ValueError, match="not a model specification: preset 'fancy'"):
        build_model("rppg", ModelSpec(**{**SPEC.to_dict(), "preset": "fancy"}))



def test_late_fusion_weights_lie_on_the_simplex_and_two_models_keep_the_papers_grid():
    from emojax.models.late_fusion import WEIGHT_GRID, choose_weights, weight_grid

    grid = weight_grid(3)
    assert len(grid) == 231 and np.allclose(grid.sum(axis=1), 1) and (grid >= 0).all()
    assert np.array_equal(weight_grid(2)[:, 0], WEIGHT_GRID)
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    good = np.eye(3)[y] * 0.8 + 0.2 / 3                       # knows the class
    noise = rng.dirichlet(np.ones(3), 30)                     # knows nothing
    acc = lambda t, p: float((t == p).mean())
    w = choose_weights([noise, good, noise[::-1]], y, acc)
    assert np.isclose(w.sum(), 1) and w[1] == w.max() and w[1] >= 0.5
    assert choose_weights([good, noise], y, acc)[0] >= 0.5


def test_late_fusion_weights_are_chosen_on_the_validation_videos_as_late_fusion_predicts_them():
    """A validation split where some videos have no landmarks: the facial model answers them
    with its training classes' frequencies, and LateFusion drops its weight there. The weights
    are chosen on what LateFusion predicts: every grid point's fused probabilities are
    LateFusion's own, and no grid point scores better through LateFusion than the chosen one."""
    from emojax.models import LateFusion
    from emojax.models.late_fusion import choose_weights, fuse, weight_grid
    from emojax.training.fold_models import probabilities

    a, _ = toy_arrays(n=24, seed=3)
    y = np.r_[np.zeros(16, int), np.arange(8) % 4]            # a skewed prior for the facial model
    a["mask"][::3, :, 1] = False                                # no face in a third of the videos
    split = Split.of(a, y=y)
    models = {m: build_model(m, SPEC, seed=k) for k, m in enumerate(("rppg", "face"))}
    for m in models.values():
        m.fit_inputs(split.inputs, a["mask"], y)
    probas = [probabilities(models[m], split) for m in ("rppg", "face")]
    has = a["mask"].any(axis=1)[:, :2]
    assert not has[:, 1].all() and has[:, 0].all()
    acc = lambda t, p: float((t == p).mean())
    deployed = {}
    for w in weight_grid(2):
        lf = probabilities(LateFusion(models, w), split)
        assert np.allclose(fuse(probas, w, has), lf, atol=1e-5), w
        deployed[tuple(w)] = acc(y, lf.argmax(axis=1))
    # the renormalisation matters here: fused without it, the probabilities are not LateFusion's
    assert not all(np.allclose(fuse(probas, w), fuse(probas, w, has), atol=1e-5) for w in weight_grid(2))
    chosen = choose_weights(probas, y, acc, has)
    assert deployed[tuple(chosen)] == max(deployed.values())
    # where it decides: two videos in three have no face, and the facial model's answer there (its
    # prior) is confidently wrong; where the face is, it is right and the pulse model wrong. Fused
    # as deployed, a high facial weight is right on every video; fused as if every video had a
    # face, the pulse model would get the larger weight, wrong wherever the face is.
    k = np.arange(30)
    y = k % 3
    has = np.c_[np.ones(30, bool), k % 3 == 0]
    pulse = np.where(has[:, 1:], np.eye(3)[(y + 1) % 3], np.eye(3)[y]) * 0.4 + 0.2
    face = np.where(has[:, 1:], np.eye(3)[y] * 0.4 + 0.2, np.eye(3)[(y + 2) % 3] * 0.97 + 0.01)
    scored = lambda w, h: acc(y, fuse([pulse, face], w, h).argmax(axis=1))
    assert scored(choose_weights([pulse, face], y, acc, has), has) == 1.0
    assert scored(choose_weights([pulse, face], y, acc), has) < 1.0      # what ignoring the absent faces would pick


def test_modality_dropout_never_drops_two_modalities_of_a_clip():
    import jax.numpy as jnp
    from flax import nnx
    from emojax.models.early_fusion import ModalityDropout

    drop = ModalityDropout(1 / 3, modalities=3, rngs=nnx.Rngs(dropout=0))
    parts = [jnp.ones((500, 4, 2)) for _ in range(3)]
    has = [jnp.ones(500, bool), jnp.ones(500, bool), jnp.arange(500) % 2 == 0]
    dropped = np.stack([np.asarray((p == 0).all(axis=(1, 2))) for p in drop(parts, has)], axis=1)
    assert dropped.sum(axis=1).max() == 1 and dropped.any()
    with pytest.raises(ValueError, match="1/3"):
        ModalityDropout(0.4, modalities=3, rngs=nnx.Rngs(dropout=0))


def test_fusion_over_three_modalities_predicts_a_clip_without_voice():
    a, y = toy_arrays(n=8)
    rng = np.random.default_rng(1)
    a = {**a, "voice": rng.normal(size=(8, 40, 25)).astype(np.float32)}
    a["mask"][:, :, 2] = True
    a["mask"][::2, :, 2] = False                              # half the clips: no voice at all
    spec = ModelSpec.of("improved", a, 4)
    assert spec.modalities == ("rppg", "face", "voice") and spec.voice_channels == 25
    for name in ("voice", "early_fusion"):
        model = build_model(name, spec)
        model.fit_inputs(Split.of(a).inputs, a["mask"])
        logits = predict_logits(model, Split.of(a))
        assert np.isfinite(logits).all()
        if name == "voice":                                 # no voice: the training prior, whatever the values
            assert np.allclose(logits[0], logits[2])


def test_a_split_missing_a_model_says_the_run_is_unfinished_and_how_to_finish_it(tmp_path):
    """A split folder with one of its models saved and the other not (a run killed between
    them): loading it names the missing file and says the way on, as a run's missing files do."""
    from emojax.training.fold_models import load_models
    from emojax.training.runfiles import UNFINISHED

    checkpoint.save(tmp_path / "rppg.msgpack", {"model": build_model("rppg", SPEC)})
    with pytest.raises(CheckpointError) as e:
        load_models(tmp_path, SPEC, ("rppg", "face"))
    assert str(e.value) == f"{tmp_path / 'face.msgpack'}: missing; the run {UNFINISHED}"
    assert "run the same command again" in str(e.value)
    assert set(load_models(tmp_path, SPEC, ("rppg",))) == {"rppg"}


def test_a_second_model_trained_alike_reuses_the_compiled_step():
    """Training a second model like the first compiles nothing new (the same step serves both,
    so a process training many models neither recompiles each time nor keeps a compiled copy per
    model: one per model once exhausted the system's memory maps); another learning rate
    compiles its own step."""
    import threading

    import jax.monitoring

    a, y = toy_arrays()
    compiled, here = [], threading.get_ident()

    def seen(event, duration, **kw):
        # a program traced to be compiled (a copy on disk may then spare the compiler), by this
        # test's thread (not by a thread another test left running)
        if event == "/jax/core/compile/jaxpr_trace_duration" and threading.get_ident() == here:
            compiled.append(kw.get("fun_name", "?"))

    def train(seed, **kw):
        model = build_model("early_fusion", SPEC, seed=seed)
        model.fit_inputs(Split.of(a).inputs, a["mask"])
        fit(model, Split.of(a, y=y), None, preset("improved", epochs=2, batch_size=16, **kw), n_classes=4)

    train(0)
    jax.monitoring.register_event_duration_secs_listener(seen)
    try:
        train(1)
        assert compiled == [], f"traced again for a model trained alike: {compiled}"
        train(2, learning_rate=1e-3)
        assert compiled, "another learning rate compiled nothing: the listener hears no compilation"
    finally:
        jax.monitoring.unregister_event_duration_listener(seen)
