"""The in-context surrogate (``surrogate="pfn"``): the shipped weights, the encoding of a study as
tokens, the bar distribution, determinism, and FT-PFN weights in ifbo's format.

``python tests/optimizers/test_pfn.py --write`` stores the shipped weights' predictions on the
reference data again (after new weights are shipped)."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperrace as hr
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers import Race, make_optimizer
from hyperrace.optimizers._parts.data.curve_data import CurveData
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.optimizers._parts.surrogate import pfn
from hyperrace.optimizers._parts.surrogate.base import Queries
from hyperrace.testing.conformance import spaces
from hyperrace.testing.history import drive
from hyperrace.testing.objectives import curve_value
from hyperrace.trial import Observation, TrialRecord, TrialStatus

torch = pytest.importorskip("torch")
pfn_net = pytest.importorskip("hyperrace.optimizers._parts.surrogate.pfn_net")

REFERENCE = Path(__file__).resolve().parent / "data" / "pfn_reference.json"
SPACE = spaces()["fidelity"]


def _history(space: hr.Space = SPACE, steps: int = 30, seed: int = 0, **fail: Any) -> History:
    study = hr.Study("pfn", space, storage="memory://", seed=seed, optimizer="random")
    drive(study, steps, curve_value, **fail)
    return study.history()


def _data(history: History, space: hr.Space = SPACE) -> CurveData:
    fid = space.fidelity
    low, high = (float(fid.low), float(fid.high)) if fid else (1.0, 1.0)
    return CurveData.collect(OneHot(space), history, low, high, 1.0)


def _queries(data: CurveData, high: float = 9.0) -> Queries:
    n = len(data.trials)
    fresh = np.full((3, data.x.shape[1]), 0.5)
    x = np.vstack([data.x, fresh])
    fid = np.r_[np.full(n, high), [1.0, 5.0, high]]
    trial = np.r_[np.arange(n), [-1, -1, -1]].astype(np.int64)
    return Queries(x, fid, trial)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random-init model in hyperrace's format."""
    path = tmp_path_factory.mktemp("pfn") / "tiny.pt"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = pfn_net.PFNNet(pfn_net.NetConfig(width=32, layers=2, heads=2, hidden=64, bins=50))
    torch.save(pfn_net.state(net, pfn_net.Bars.uniform(50), {"steps": 0}), path)
    return path


def _reference_case() -> tuple[CurveData, Queries]:
    data = _data(_partial())
    return data, _queries(data)


def _predict_shipped() -> dict[str, Any]:
    data, queries = _reference_case()
    pred = pfn.PFN().model(data, 1.0, 9.0, 20).predict(queries)  # type: ignore[union-attr]
    return {
        "weights_sha256": hashlib.sha256(pfn.SHIPPED.read_bytes()).hexdigest(),
        "mean": pred.mean.tolist(),
        "std": pred.std.tolist(),
    }


def test_the_shipped_weights_predict_as_stored() -> None:
    """The package carries the weights, and they give the stored predictions (within float32
    rounding across platforms)."""
    assert pfn.SHIPPED.is_file()
    assert pfn.SHIPPED.stat().st_size <= 20 * 2**20
    stored = json.loads(REFERENCE.read_text())
    got = _predict_shipped()
    assert got["weights_sha256"] == stored["weights_sha256"], (
        "the shipped weights changed: run python tests/optimizers/test_pfn.py --write"
    )
    np.testing.assert_allclose(got["mean"], stored["mean"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["std"], stored["std"], rtol=1e-4, atol=1e-6)
    assert np.all(np.array(got["std"]) > 0)


def _partial(n: int = 25, seed: int = 7) -> History:
    """``n`` trials of ``curve_value`` observed up to 2 to 6 epochs each."""
    rng = np.random.default_rng(seed)
    trials = []
    seq = 0
    for i in range(n):
        config = SPACE.sample(rng)
        config.pop("epochs", None)
        obs = []
        for e in range(1, int(rng.integers(2, 7)) + 1):
            seq += 1
            obs.append(Observation(float(e), curve_value(config, e), seq=seq))
        trials.append(TrialRecord(i + 1, i, config, TrialStatus.PAUSED, tuple(obs)))
    return History("minimize", tuple(trials))


def test_the_shipped_model_learned_that_curves_go_down_from_where_they_are() -> None:
    """Not a check of quality, of having learned at all: a curve's prediction one step ahead is
    near its last report, and a configuration with no report is less certain."""
    data = _data(_partial())
    model = pfn.PFN().model(data, 1.0, 9.0, 20)
    assert model is not None
    rows = [i for i, c in enumerate(data.curves) if 0 < len(c) < 9]
    t = data.trials
    q = Queries(data.x[rows], np.array([t[i].fidelity + 1 for i in rows]), np.array(rows))
    pred = model.predict(q)
    last = np.array([data.curves[i][-1] for i in rows])
    spread = float(np.ptp(np.concatenate(data.curves)))
    assert np.median(np.abs(pred.mean - last)) < 0.25 * spread
    unseen = model.predict(Queries(data.x[rows], q.fidelity, np.full(len(rows), -1)))
    assert np.median(unseen.std) > np.median(pred.std)


def test_same_data_same_predictions_bit_for_bit_and_no_fit(tiny: Path) -> None:
    data = _data(_history())
    queries = _queries(data)
    a = pfn.PFN(weights=str(tiny)).model(data, 1.0, 9.0, 20)
    pfn._load.cache_clear()
    b = pfn.PFN(weights=str(tiny)).model(data, 1.0, 9.0, 20)
    assert a is not None and b is not None
    pa, pb = a.predict(queries), b.predict(queries)
    assert pa.mean.tobytes() == pb.mean.tobytes() and pa.std.tobytes() == pb.std.tobytes()
    # batching does not change what a query gets: each query sees the context alone
    c = pfn.PFN(weights=str(tiny), batch=4).model(data, 1.0, 9.0, 20)
    assert c is not None
    np.testing.assert_allclose(c.predict(queries).mean, pa.mean, rtol=1e-5, atol=1e-6)
    assert not hasattr(a, "fitted_at")  # nothing is fitted: the race records no fit


def test_failures_enter_as_the_worst_value(tiny: Path) -> None:
    history = _history(steps=20, fail=lambda c: c["x"] > 0.7)
    data = _data(history)
    assert np.isnan(data.loss).any()
    model = pfn.PFN(weights=str(tiny)).model(data, 1.0, 9.0, 20)
    assert model is not None
    y = model._ctx.y
    failed = np.isnan(data.loss)
    assert np.all(y[failed] == y.min())
    assert np.all(y[failed] <= y[~failed].min())


def test_values_steps_and_ids_as_documented(tiny: Path) -> None:
    data = _data(_history(steps=12))
    model = pfn.PFN(weights=str(tiny)).model(data, 1.0, 9.0, 20)
    assert model is not None
    ctx = model._ctx
    loss = data.losses(len(data))
    assert np.all((loss >= 0) & (loss <= 1.5))
    hi = max(1.0, float(loss.max()))
    np.testing.assert_allclose(ctx.y, (hi - loss) / hi)  # lo = 0 for losses >= 0
    np.testing.assert_allclose(ctx.t, data.fidelity / 9.0)
    assert set(ctx.ids) == set(range(1, len(set(data.trial)) + 1))
    ranged = pfn.PFN(weights=str(tiny), loss_range=[0.0, 2.0]).model(data, 1.0, 9.0, 20)
    assert ranged is not None
    np.testing.assert_allclose(ranged._ctx.y, 1 - loss / 2)


def test_categoricals_log_scales_and_too_many_hyperparameters_are_encoded() -> None:
    space = hr.Space(
        lr=hr.Float(1e-4, 1e-1, log=True),
        opt=hr.Categorical(["adam", "sgd", "rmsprop"]),
        only=hr.Categorical(["x"]),
    )
    enc = OneHot(space)
    cols = CurveData.collect(enc, _history(space, steps=1), 1.0, 1.0, 1.0).columns
    assert cols == ((0, 1, 0), (1, 4, 3), (4, 5, 1))
    x = enc.encode_many(
        [{"lr": 1e-3, "opt": "rmsprop", "only": "x"}, {"lr": 1e-1, "opt": "adam", "only": "x"}]
    )
    u = pfn.encode_configs(x, cols)
    np.testing.assert_allclose(u, [[1 / 3, 1.0, 0.5], [1.0, 0.0, 0.5]])
    wide = hr.Space(**{f"h{i}": hr.Float(0.0, 1.0) for i in range(14)})
    z = np.random.default_rng(0).random((50, 14))
    cols14 = tuple((i, i + 1, 0) for i in range(14))
    v = pfn.encode_configs(z, cols14)
    assert v.shape == (50, pfn.FEATURES) and v.min() >= 0 and v.max() <= 1
    assert np.array_equal(v, pfn.encode_configs(z, cols14))  # a fixed projection
    assert np.all(np.std(v, axis=0) > 0.1)  # each column spreads like a hyperparameter
    assert len(wide.names) == 14


def test_a_long_study_is_thinned_to_the_context_bound(tiny: Path) -> None:
    data = _data(_history(steps=60))
    n = len(data)
    model = pfn.PFN(weights=str(tiny), max_context=n // 3).model(data, 1.0, 9.0, 20)
    assert model is not None
    assert len(model._ctx.y) <= n // 3
    kept = set(model._ctx.trial_id)
    # every curve keeps its last point while there is room for one per curve
    assert kept == {int(i) for i in set(data.trial)}
    one = pfn.PFN(weights=str(tiny), max_context=2).model(data, 1.0, 9.0, 20)
    assert one is not None and len(one._ctx.y) == 2


def test_the_bar_distribution_against_numerical_integration() -> None:
    rng = np.random.default_rng(1)
    # borders on a grid of 1/1000, so that the midpoint rule below is exact within each bar
    borders = np.unique(np.r_[0.0, rng.integers(1, 1000, 19) / 1000, 1.0])
    bars = pfn_net.Bars(borders)
    nb = len(borders) - 1
    p = rng.dirichlet(np.ones(nb), size=3)
    pred = pfn.BarPrediction(p, bars, hi=2.0, scale=2.0)  # loss = 2 - 2 y
    grid = (np.arange(100_000) + 0.5) / 100_000
    k = np.clip(np.searchsorted(bars.borders, grid, side="right") - 1, 0, nb - 1)
    dens = p[:, k] / bars.widths[k]  # density of y
    dy = grid[1] - grid[0]
    mean_y = (dens * grid).sum(axis=1) * dy
    np.testing.assert_allclose(pred.mean, 2 - 2 * mean_y, atol=1e-9)
    var_y = (dens * grid**2).sum(axis=1) * dy - mean_y**2
    np.testing.assert_allclose(pred.std, 2 * np.sqrt(var_y), atol=1e-6)
    thr = 0.7  # loss <= 0.7  <=>  y >= 0.65
    np.testing.assert_allclose(
        pred.prob_below(thr), (dens * (grid >= 0.65)).sum(axis=1) * dy, atol=1e-9
    )
    gain = (dens * np.maximum(0.7 - (2 - 2 * grid), 0)).sum(axis=1) * dy
    np.testing.assert_allclose(pred.expected_improvement(thr), gain, atol=1e-9)
    np.testing.assert_allclose(pred.log_prob_below(thr), np.log(pred.prob_below(thr)))
    loss = np.array([0.3, 1.0, 1.9])
    y = (2 - loss) / 2
    kk = np.searchsorted(bars.borders, y, side="right") - 1
    np.testing.assert_allclose(
        pred.log_density(loss), np.log(p[np.arange(3), kk] / bars.widths[kk] / 2)
    )
    assert pred.quantile(0.5).shape == (3,)


def test_the_race_runs_with_it_from_its_name_and_label(tiny: Path) -> None:
    from hyperrace.benchmarks._harness import parse_label

    name, params = parse_label("race:surrogate=pfn")
    assert make_optimizer(name, params).get_params()["surrogate"] == "pfn"
    opt = Race(surrogate={"name": "pfn", "weights": str(tiny)}, n_prior=16, n_local=8)
    study = hr.Study("race-pfn", SPACE, storage="memory://", seed=1, optimizer=opt)
    infos: list[dict[str, Any]] = []
    drive(study, 16, curve_value, on_job=lambda s, j: infos.append(dict(j.info)))
    model = [i for i in infos if i.get("source") == "model"]
    assert model and all(math.isfinite(i["score"]) or i["score"] == -math.inf for i in model)
    assert not any("fitted_at" in i for i in model)


def test_with_the_pfn_the_race_runs_new_trials_to_a_rung_and_draws_from_the_prior_only() -> None:
    """Its defaults follow the surrogate (what the user sets wins, and the recorded parameters
    rebuild the same race); the recipe's own surrogate keeps the recipe's."""
    from hyperrace.benchmarks._harness import parse_label

    dpl = make_optimizer("race", {})
    assert (dpl.first, dpl.n_local) == ("step", 0)
    assert make_optimizer("race", {"n_local": 64}).n_local == 64
    for spec, context in (
        ("pfn", 600),
        ({"name": "pfn", "max_context": 500}, 500),
        ({"name": "pfn"}, 600),
        ({"name": "pfn", "max_context": 1000}, 1000),
    ):
        race = make_optimizer("race", {"surrogate": spec})
        assert (race.first, race.n_local) == ("rung", 0)
        # the recipe's context bound, unless the surrogate is given with its own
        assert race._surrogate.max_context == context
        again = make_optimizer("race", race.get_params())
        assert again.get_params() == race.get_params()
        assert again._surrogate.max_context == context
    assert pfn.PFN().max_context == 1000  # the surrogate alone: every point it was trained on
    assert make_optimizer("race", {"surrogate": "pfn", "n_local": 64}).n_local == 64
    mine = make_optimizer(*parse_label("race:surrogate=pfn:first=step:n_local=8"))
    assert (mine.first, mine.n_local) == ("step", 8)
    assert make_optimizer("dyhpo", {"surrogate": "pfn"}).promotion == 0.25  # the rest: dyhpo's


def test_bad_parameters_name_the_value_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a file"):
        Race(surrogate={"name": "pfn", "weights": str(tmp_path / "none.pt")})
    with pytest.raises(ConfigurationError, match="lo < hi"):
        pfn.PFN(loss_range=[1.0, 0.0])
    with pytest.raises(ConfigurationError, match="max_context"):
        pfn.PFN(max_context=0)
    junk = tmp_path / "junk.pt"
    torch.save({"format": "something else"}, junk)
    with pytest.raises(ValueError, match="not a hyperrace PFN weights file"):
        pfn.PFN(weights=str(junk)).network()


def test_ft_pfn_weights_in_ifbo_format(tmp_path: Path) -> None:
    """A small random ifbo TransformerModel, pickled whole as ifbo ships FT-PFN, predicts
    through the surrogate as through ifbo's own FTPFN.forward."""
    pytest.importorskip("ifbo")
    from ifbo import encoders
    from ifbo.bar_distribution import BarDistribution
    from ifbo.priors.ftpfn_prior import MultiCurvesEncoder
    from ifbo.surrogate import FTPFN
    from ifbo.transformer import TransformerModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = TransformerModel(
            MultiCurvesEncoder(12, 16),
            ninp=16,
            nhead=2,
            nhid=32,
            nlayers=1,
            y_encoder=encoders.Linear(1, 16),
            decoder_dict={"standard": (None, 40)},
        )
    borders = torch.linspace(0, 1, 41)
    borders[5] = borders[4]  # a bar of width 0, as ifbo allows
    model.criterion = BarDistribution(borders)
    path = tmp_path / "ftpfn.pt"
    torch.save(model, path)

    data = _data(_history(steps=12))
    queries = _queries(data)
    surrogate = Race(surrogate={"name": "pfn", "weights": str(path)})._surrogate
    got = surrogate.model(data, 1.0, 9.0, 20).predict(queries)  # type: ignore[union-attr]
    ctx = got and surrogate.model(data, 1.0, 9.0, 20)._ctx  # type: ignore[union-attr]
    x_train = torch.tensor(np.column_stack([ctx.ids, ctx.t, ctx.x]), dtype=torch.float32)
    ids = [ctx.trial_id.get(int(i), 0) for i in queries.trial]
    qx = pfn.encode_configs(queries.x, data.columns)
    x_test = torch.tensor(np.column_stack([ids, queries.fidelity / 9.0, qx]), dtype=torch.float32)
    ref = object.__new__(FTPFN)
    torch.nn.Module.__init__(ref)
    ref.model = model.eval()
    with torch.no_grad():
        logits = ref(x_train, torch.tensor(ctx.y, dtype=torch.float32), x_test)
    probs = torch.softmax(logits.reshape(len(queries), -1).double(), -1).numpy()
    merged = np.delete(probs, 4, axis=1)
    merged[:, 4] += probs[:, 4]  # the empty bar's mass goes to the next
    np.testing.assert_allclose(got.probs, merged, atol=1e-6)
    assert np.array_equal(got.bars.borders, np.delete(borders.double().numpy(), 5))


if __name__ == "__main__" and "--write" in sys.argv:
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(_predict_shipped(), indent=1) + "\n")
    print(f"wrote {REFERENCE}")
