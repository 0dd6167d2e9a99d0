"""The Study: create or load a study by name, drive it step by step (ask / report / tell) or let
it run (``optimize``). Its :class:`~hyperrace.study._race.Race` is the only writer of decisions:
``ask`` takes the next job from it, ``optimize`` runs a race loop over it."""

from __future__ import annotations

import atexit
import logging
import math
import numbers
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hyperrace._clock import Clock, SystemClock
from hyperrace._rng import new_seed
from hyperrace.exceptions import (
    ConfigurationError,
    SpaceError,
    StudyMismatchError,
    TrialStateError,
)
from hyperrace.executors import Gpus, Liveness, Objective
from hyperrace.history import BEST_BY, BestBy, Direction, History
from hyperrace.optimizers import Done, Optimizer, Wait, make_optimizer, spec_of
from hyperrace.space import Space
from hyperrace.storage import Storage, StudyInfo, mask_url, open_storage
from hyperrace.study._budget import Budget
from hyperrace.study._default import default_optimizer
from hyperrace.study._job import Job
from hyperrace.study._keeper import Keeper
from hyperrace.study._loop import RaceLoop
from hyperrace.study._race import Race
from hyperrace.study._stored import find_study
from hyperrace.trial import (
    Checkpoint,
    Failed,
    Observation,
    Returned,
    RunState,
    TrialRecord,
    TrialStatus,
    as_value,
    check_user_attr,
    check_value,
    end_of_run,
    short_repr,
    trial_folder,
)

if TYPE_CHECKING:
    from hyperrace.executors import Executor

__all__ = ["Study"]

logger = logging.getLogger("hyperrace")

#: A trial to read the columns of an empty study's data frame from.
_EMPTY_TRIAL = TrialRecord(0, 0, {}, TrialStatus.RUNNING)


def _finite(x: object) -> bool:
    """Whether ``x`` is a real number (NumPy's too; not a bool) of finite float value."""
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a float
        return False


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 512:
        raise ConfigurationError(
            f"study name {short_repr(name)} must be a non-empty string of at most 512 characters"
        )
    control = [c for c in name if ord(c) < 32 or ord(c) == 127]
    if control:
        # PostgreSQL refuses NUL in text, and the others garble the CLI's tables
        raise ConfigurationError(
            f"study name {short_repr(name)} holds the control character {control[0]!r}; use "
            "printable characters only"
        )
    return name


def _default_artifacts(storage: Storage, name: str) -> Path:
    url = storage.url
    base = Path.cwd()
    if url.startswith("memory://"):
        # the study lives as long as this process: so do its checkpoints
        folder = tempfile.mkdtemp(prefix="hyperrace-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return Path(folder)
    if url.startswith("sqlite:///"):
        base = Path(url[len("sqlite:///") :]).expanduser().resolve().parent
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"
    return base / "hyperrace-artifacts" / slug


class Study:
    """A named study in a storage: created on first use, loaded by name afterwards.

    Args:
        name: the study's name, unique in the storage.
        space: the search space; required to create a study, checked against the stored one when
            loading (a different space is an error: create a new study instead).
        direction: ``"minimize"`` (default for a new study) or ``"maximize"`` the reported value.
        storage: a URL (``sqlite:///file.db``, ``postgresql+psycopg://...``, ``memory://``) or a
            storage object; default ``sqlite:///hyperrace.db`` in the working directory.
        optimizer: a registered name or an optimizer object; default: the one the study was
            created with; for a new study ``"asha"`` when the space has a fidelity, else
            ``"gp_ei"`` (``"tpe"`` without the ``bo`` extra), as
            :func:`~hyperrace.study.default_optimizer` decides.
        seed: the seed of every decision; default: the stored one, or a fresh one.
        best_by: how :attr:`best` ranks trials (see :meth:`~hyperrace.History.best`):
            ``"last"``, the value at the highest fidelity reached (the default of a new study),
            or ``"curve"``, the best value anywhere on a trial's curve. Stored with the study,
            so ``hyperrace best`` ranks the same way; default: the stored rule.
        artifacts: the folder for checkpoints; default: ``hyperrace-artifacts/<name>`` next to a
            SQLite file, in the working directory for PostgreSQL, and a temporary folder removed
            at exit for ``memory://``.
        clock: where time comes from (tests and simulations pass their own).
        metric: the name of the reported value (e.g. ``"val_loss"``), stored with the study and
            shown by the dashboard and plots instead of "value"; given when loading, it renames
            it. Default: the stored name, or "value".

    Examples:
        >>> import hyperrace as hr
        >>> space = hr.Space(x=hr.Float(-5.0, 5.0))
        >>> study = hr.Study("doc-example", space, storage="memory://", seed=0)
        >>> def objective(trial):
        ...     return (trial.config["x"] - 1.0) ** 2
        >>> study.optimize(objective, budget=hr.Budget(trials=20), progress=False)
        >>> len(study.trials), abs(study.best.config["x"] - 1.0) < 0.5
        (20, True)
    """

    def __init__(
        self,
        name: str,
        space: Space | None = None,
        *,
        direction: Direction | None = None,
        storage: str | Storage | None = None,
        optimizer: str | Optimizer | None = None,
        seed: int | None = None,
        artifacts: str | Path | None = None,
        clock: Clock | None = None,
        best_by: BestBy | None = None,
        metric: str | None = None,
    ) -> None:
        self.name = _check_name(name)
        if best_by is not None and best_by not in BEST_BY:
            raise ConfigurationError(
                f"best_by={best_by!r} is not a ranking rule; use one of {list(BEST_BY)}"
            )
        if metric is not None and (
            not isinstance(metric, str) or not metric.strip() or len(metric) > 100
        ):
            raise ConfigurationError(
                f"metric={metric!r} must be a non-empty name of at most 100 characters, "
                "e.g. 'val_loss'"
            )
        if direction is not None and direction not in ("minimize", "maximize"):
            raise ConfigurationError(f"direction={direction!r} must be 'minimize' or 'maximize'")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigurationError(f"seed={seed!r} must be a non-negative integer or None")
        if artifacts is not None and "://" in str(artifacts):
            raise ConfigurationError(
                f"artifacts={str(artifacts)!r} is a URL; checkpoints go to a folder: mount the "
                "bucket or share on every machine and pass the mounted path"
            )
        self.storage = open_storage(storage)
        self.clock = clock or SystemClock()
        self._keeper: Keeper | None = None  # started by the first ask()
        info = (
            self.storage.get_study(name)
            if space is not None
            else find_study(self.storage, name, advice="pass a space to create it")
        )
        if info is None:
            info = self._create(name, space, direction, optimizer, seed)
        else:
            self._check_loaded(info, space, direction, seed)
        self._info = info
        self.space = Space.from_dict(info.space)
        self.direction: Direction = info.direction
        self.seed = info.seed
        self.optimizer = self._resolve_optimizer(info, optimizer)
        stored_artifacts = info.attrs.get("artifacts")
        if artifacts is not None:
            self.artifacts = Path(artifacts).expanduser().resolve()
        elif stored_artifacts:
            self.artifacts = Path(stored_artifacts)
        else:
            self.artifacts = _default_artifacts(self.storage, name)
        if stored_artifacts != str(self.artifacts):
            self.storage.set_study_attr(info.study_id, "artifacts", str(self.artifacts))
        self.best_by: BestBy = best_by or info.attrs.get("best_by", "last")
        if info.attrs.get("best_by", "last") != self.best_by:
            self.storage.set_study_attr(info.study_id, "best_by", self.best_by)
        if metric is not None and info.attrs.get("metric") != metric:
            self.storage.set_study_attr(info.study_id, "metric", metric)
        self.metric: str = metric or str(info.attrs.get("metric") or "value")
        # decides and records the jobs; ask() gives it its liveness settings
        self._race = Race(
            storage=self.storage,
            study_id=info.study_id,
            name=self.name,
            space=self.space,
            optimizer=self.optimizer,
            seed=self.seed,
            clock=self.clock,
            artifacts=self.artifacts,
        )

    # -- creation and loading -----------------------------------------------------------------

    def _create(
        self,
        name: str,
        space: Space | None,
        direction: Direction | None,
        optimizer: str | Optimizer | None,
        seed: int | None,
    ) -> StudyInfo:
        if not isinstance(space, Space):
            raise ConfigurationError(
                f"space must be a hyperrace.Space, got {type(space).__name__}; "
                "build one with hr.Space(lr=hr.Float(1e-4, 1e-1, log=True), ...)"
            )
        opt = self._build_optimizer(optimizer or default_optimizer(space))
        return self.storage.create_study(
            name,
            direction=direction or "minimize",
            space=space.to_dict(),
            optimizer=spec_of(opt),
            seed=new_seed() if seed is None else seed,
            now=self.clock.timestamp(),
        )

    def _check_loaded(
        self, info: StudyInfo, space: Space | None, direction: Direction | None, seed: int | None
    ) -> None:
        if space is not None:
            stored = Space.from_dict(info.space)
            if stored != space:
                raise StudyMismatchError(
                    f"study {info.name!r} exists with another space: "
                    f"{stored.describe_difference(space)}. Load it without a space (or with the "
                    "same one), or give the new space a new study name"
                )
        if direction is not None and direction != info.direction:
            raise StudyMismatchError(
                f"study {info.name!r} was created with direction={info.direction!r}, not "
                f"{direction!r}; load it without direction=, or create a new study"
            )
        if seed is not None and seed != info.seed:
            raise StudyMismatchError(
                f"study {info.name!r} was created with seed={info.seed}, not {seed}; load it "
                "without seed=, or create a new study"
            )

    @staticmethod
    def _build_optimizer(optimizer: str | Optimizer) -> Optimizer:
        if isinstance(optimizer, str):
            return make_optimizer(optimizer)
        if not isinstance(optimizer, Optimizer):
            raise ConfigurationError(
                f"optimizer={optimizer!r} is neither a registered name nor an optimizer "
                "(an object with name, decide() and get_params())"
            )
        return optimizer

    def _resolve_optimizer(self, info: StudyInfo, optimizer: str | Optimizer | None) -> Optimizer:
        if optimizer is None:
            return make_optimizer(info.optimizer["name"], info.optimizer.get("params", {}))
        opt = self._build_optimizer(optimizer)
        if spec_of(opt) != dict(info.optimizer):
            logger.info("study %r now uses optimizer %s", info.name, spec_of(opt))
            self.storage.set_study_optimizer(info.study_id, spec_of(opt))
        return opt

    # -- reading ------------------------------------------------------------------------------

    @property
    def study_id(self) -> int:
        return self._info.study_id

    def history(self, *, decisions: bool = False) -> History:
        """A snapshot of the study now (with its decision records when ``decisions``).

        Read incrementally: only what changed since this object's previous snapshot is read
        from the storage, and unchanged trial records are shared between snapshots.
        """
        return self._race.history(decisions=decisions)

    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, in order of creation."""
        return list(self.history().trials)

    @property
    def best(self) -> TrialRecord | None:
        """The best trial, never a failed one, ranked by :attr:`best_by` (see
        :meth:`History.best`); ``None`` before a value is reported."""
        return self.history().best(self.best_by)

    @property
    def best_value(self) -> float | None:
        """The value that makes :attr:`best` the best (its value at the highest fidelity reached,
        or the best value of its curve with ``best_by="curve"``); ``None`` before any."""
        return self.history().best_value(self.best_by)

    @property
    def best_config(self) -> dict[str, Any] | None:
        """The hyperparameters of :attr:`best` (a copy); ``None`` before a value is reported."""
        best = self.best
        return None if best is None else dict(best.config)

    @property
    def elapsed_seconds(self) -> float:
        """Wall-clock seconds spent in ``optimize``, over every call."""
        return self._race.elapsed_seconds

    def to_dataframe(self, *, per: Literal["trial", "observation"] = "trial") -> Any:
        """The study as a pandas DataFrame (needs the ``dataframe`` extra).

        ``per="trial"`` (default): one row per trial, as Optuna's ``Study.trials_dataframe``:
        ``number``, ``trial_id``, ``state``, ``value`` (at the highest fidelity it reported),
        ``fidelity``, ``datetime_start``, ``datetime_complete`` (when it completed or failed;
        NaT while it may run again), ``duration``, a ``params_<name>`` column per
        hyperparameter, a ``user_attrs_<key>`` column per user attribute, then ``work``,
        ``reason``, ``message``, ``wall_seconds``, ``cpu_seconds`` and ``lost_count``.

        ``per="observation"``: one row per reported value: ``number``, ``trial_id``, ``state``,
        ``fidelity``, ``value``, ``datetime`` (when it was reported), ``wall_seconds``,
        ``cpu_seconds`` and the ``params_<name>`` columns.

        Moments are pandas datetimes in UTC, durations timedeltas.
        """
        from hyperrace._imports import require

        pd = require("pandas", "dataframe", "Study.to_dataframe()")
        from hyperrace.study._export import (
            DURATION_COLUMNS,
            TIME_COLUMNS,
            observation_records,
            trial_records,
        )

        if per not in ("trial", "observation"):
            raise ConfigurationError(f"per={per!r} must be 'trial' or 'observation'")
        history = self.history()
        build = trial_records if per == "trial" else observation_records
        records = build(history, self.space)
        if not records:  # the columns of an empty study still show what there will be
            empty = History(history.direction, (_EMPTY_TRIAL,))
            columns = list(build(empty, self.space)[0])
            return pd.DataFrame(columns=columns)
        frame = pd.DataFrame(records)
        for column in TIME_COLUMNS:
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
        for column in DURATION_COLUMNS:
            if column in frame:
                frame[column] = pd.to_timedelta(frame[column], unit="s")
        if {"duration", "datetime_start", "datetime_complete"} <= set(frame.columns):
            frame["duration"] = frame["datetime_complete"] - frame["datetime_start"]  # exact
        return frame

    # -- fidelity -----------------------------------------------------------------------------

    @property
    def _max_fidelity(self) -> float:
        return self._race.max_fidelity

    @property
    def _integer_fidelity(self) -> bool:
        return self._race.integer_fidelity

    # -- the queue and user attributes --------------------------------------------------------

    def enqueue(
        self, config: Mapping[str, Any], *, user_attrs: Mapping[str, Any] | None = None
    ) -> int:
        """Put ``config`` in the study's queue: the next trials start the queued configurations,
        in order, before the optimizer proposes new ones (a warm start from known good ones).
        Returns its place in the queue (0, 1, ...).

        ``config`` may leave hyperparameters out: the optimizer's proposal fills them. The
        optimizer still decides the budget of a queued trial (ASHA starts it at its lowest
        rung, GP-EI at the maximum), and races it like any other; once the optimizer is done,
        the rest of the queue is trained to the maximum fidelity. Each queued configuration is
        started once, even with many processes asking at once. ``user_attrs`` are given to the
        trial it starts.

        Raises:
            SpaceError: a key is not a hyperparameter of the space, or a value does not fit.
            ConfigurationError: a user attribute is not a JSON value.

        Examples:
            >>> import hyperrace as hr
            >>> space = hr.Space(lr=hr.Float(1e-4, 1e-1, log=True), layers=hr.Int(1, 4))
            >>> study = hr.Study("warm", space, storage="memory://", optimizer="random", seed=0)
            >>> study.enqueue({"lr": 0.01, "layers": 2}, user_attrs={"source": "last year"})
            0
            >>> study.enqueue({"lr": 0.003})  # layers: the optimizer's choice
            1
            >>> study.optimize(lambda t: t.config["lr"], budget=hr.Budget(trials=3), progress=False)
            >>> [t.config["lr"] for t in study.trials[:2]], study.trials[0].user_attrs
            ([0.01, 0.003], {'source': 'last year'})
        """
        values = self._check_partial(config)
        attrs = dict(user_attrs or {})
        for key, value in attrs.items():
            check_user_attr(key, value)
        return self.storage.enqueue(self.study_id, values, attrs, now=self.clock.timestamp())

    def _check_partial(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            raise SpaceError(f"enqueue() takes a mapping of name to value, not {config!r}")
        unknown = [k for k in config if k not in self.space]
        if unknown:
            hint = (
                f"; {self.space.fidelity_name!r} is the fidelity, which the optimizer grants"
                if self.space.fidelity_name in unknown
                else ""
            )
            raise SpaceError(
                f"enqueue(): {unknown} are not hyperparameters of this space (names: "
                f"{list(self.space.names)}){hint}"
            )
        return {k: self.space[k].validate(k, v) for k, v in config.items()}

    def set_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Attach ``value`` (a JSON value) to trial ``trial_id`` under ``key``, whatever its
        status (e.g. a test score computed after the study); as ``Trial.set_user_attr`` does
        from the objective. It is in ``TrialRecord.user_attrs``; optimizers ignore it.

        Raises:
            ConfigurationError: ``key`` is not a non-empty string, or ``value`` not JSON.
            KeyError: there is no trial ``trial_id``.
        """
        check_user_attr(key, value)
        self.storage.set_trial_user_attr(trial_id, key, value)

    # -- ask / report / tell ------------------------------------------------------------------

    def ask(
        self,
        budget: Budget | None = None,
        *,
        heartbeat_interval: float = 10.0,
        stale_after: float | None = None,
        max_retries: int | None = 3,
        liveness: Liveness | None = None,
    ) -> Job | Wait | Done:
        """The next job: a trial to train from ``job.start`` up to ``job.stop``.

        Returns :class:`~hyperrace.optimizers.Wait` when the optimizer needs a running trial to
        end first, and :class:`~hyperrace.optimizers.Done` when the search is over. Safe to call
        from several processes at once: each gets a different job.

        From the first ``ask`` on, a background thread of this process marks the jobs it handed
        out alive every ``heartbeat_interval`` seconds until they are told, and takes trials of
        the study whose heartbeat is older than ``stale_after`` seconds (default: 3 intervals)
        as lost, whoever ran them: they are paused to be resumed first, or failed once lost more
        than ``max_retries`` times. So a process that dies loses its jobs to the others without
        anyone having to ask. :meth:`close` stops the thread.

        Args:
            budget: counted over the whole study as in :meth:`optimize`: the job's ``stop`` is
                clipped to the epochs left (those granted to running trials count as spent), and
                ``Done`` comes once the budget is spent.
            liveness: ``heartbeat_interval``, ``stale_after`` and ``max_retries`` as one
                :class:`~hyperrace.executors.Liveness` record (then leave those three out).
        """
        live = Liveness.of(
            liveness,
            heartbeat_interval=heartbeat_interval,
            stale_after=stale_after,
            max_retries=max_retries,
        )
        race = self._race.with_liveness(live)
        if self._keeper is None:
            self._keeper = Keeper(race)
        else:
            self._keeper.use(race)
        self._race = race  # the keeper holds it weakly
        race.recover()
        job = race.next(budget)
        if isinstance(job, Job):
            self._keeper.track(job.trial_id, job.decision)
        return job

    def close(self) -> None:
        """Stop this object's background thread (see :meth:`ask`); jobs it handed out and that
        are not told get no more heartbeats, so other processes will take them as lost. The
        storage stays open."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def report(
        self,
        trial_id: int,
        value: float,
        *,
        fidelity: float | None = None,
        checkpoint: Callable[[], Any] | Any | None = None,
        wall_seconds: float = 0.0,
        cpu_seconds: float = 0.0,
    ) -> bool:
        """Record ``value`` of trial ``trial_id`` at ``fidelity``; committed when it returns.

        Args:
            trial_id: the job's ``trial_id``.
            value: the metric. A NaN or infinite value fails the trial (the reason is kept)
                instead of being stored.
            fidelity: the budget trained so far (whole epochs or steps, or seconds). Required
                when the space has a fidelity; without one it is the single step, 1, and may be
                left out. A fidelity outside the space's range is an error (seconds may
                overshoot the maximum).
            checkpoint: the state to resume from, or a callable returning it (called only after
                the value was checked): saved atomically in the trial's folder
                (:meth:`checkpoint`), and its fidelity committed with the report, as
                :meth:`Trial.report <hyperrace.Trial.report>` does.
            wall_seconds: wall-clock seconds the step took (for budgets in seconds and the
                views).
            cpu_seconds: processor seconds the step took.

        Returns:
            True while the trial should keep training (running and below its granted stop).

        Raises:
            TrialStateError: the trial is not running; or this object handed out its job, the
                run was taken as lost meanwhile (no heartbeat for ``stale_after``) and the trial
                is now trained by another run: stop training it.
        """
        if fidelity is None:
            if self.space.fidelity is not None:
                raise ConfigurationError(
                    f"report(trial {trial_id}, ...) needs fidelity=: the space's fidelity "
                    f"{self.space.fidelity_name!r} says how far the trial has trained, e.g. "
                    f"study.report(job.trial_id, value, fidelity=job.start + 1)"
                )
            fidelity = 1
        self._check_fidelity(fidelity)
        for name, seconds in (("wall_seconds", wall_seconds), ("cpu_seconds", cpu_seconds)):
            if not _finite(seconds) or seconds < 0:
                raise ConfigurationError(
                    f"{name}={short_repr(seconds)} must be a finite number of seconds, at least 0"
                )
        # a value that is refused goes to the storage as it is: the trial fails, the reason
        # naming it
        if check_value(value) is None:
            value = as_value(value)
        obs = Observation(
            float(fidelity), value, float(wall_seconds), float(cpu_seconds), self.clock.timestamp()
        )
        # a job this object handed out reports as its run: refused once that run was taken as
        # lost and the trial resumed elsewhere (TrialStateError says so)
        run = self._keeper.run_of(trial_id) if self._keeper is not None else None
        saved: Checkpoint | None = None
        if checkpoint is not None and check_value(value) is None:
            saved = self.checkpoint(trial_id)
            saved.save(checkpoint() if callable(checkpoint) else checkpoint, float(fidelity))
        done = self.storage.report(
            trial_id,
            obs,
            run=run,
            checkpoint_fidelity=float(fidelity) if saved is not None else None,
        )
        if saved is not None:
            saved.prune()
        return done.status is TrialStatus.RUNNING and float(fidelity) < done.target

    def checkpoint(self, trial_id: int) -> Checkpoint:
        """The checkpoint folder of trial ``trial_id`` (``<artifacts>/trial-<trial_id>``): its
        ``load()`` gives the state of the newest checkpoint committed with a report (``None``
        when there is none), its ``fidelity`` says where that state is. The same folder and
        files as :attr:`Trial.checkpoint <hyperrace.Trial.checkpoint>`, so a trial can move
        between ask/tell and ``optimize``.

        Raises:
            KeyError: there is no trial ``trial_id``.
        """
        record = self.storage.trial(trial_id)
        return Checkpoint(trial_folder(self.artifacts, trial_id), record.checkpoint_fidelity)

    def _check_fidelity(self, fidelity: float) -> None:
        f = self.space.fidelity
        high = self._max_fidelity
        bad = not _finite(fidelity) or fidelity <= 0
        if not bad and self._integer_fidelity:
            bad = not float(fidelity).is_integer() or fidelity > high
        if bad:
            unit = f.unit if f is not None else "steps"
            raise ConfigurationError(
                f"fidelity={short_repr(fidelity)} is not a fidelity of this study: report whole "
                f"{unit} from 1 to {high:g}"
                if self._integer_fidelity
                else f"fidelity={short_repr(fidelity)} must be a positive number of seconds"
            )

    def tell(self, job: Job, *, error: str | None = None) -> TrialRecord:
        """The job is over: the trial is completed (maximum fidelity reached), paused, or failed
        (``error`` given, or a non-finite value was reported). Returns the trial.

        A job whose run was taken as lost meanwhile (no heartbeat for ``stale_after``), and
        whose trial was resumed by another run, changes nothing: a warning says so."""
        if self._keeper is not None:
            self._keeper.untrack(job.trial_id)
        trial = self.storage.trial(job.trial_id)
        if trial.status is not TrialStatus.RUNNING:
            return trial
        state = RunState(trial.fidelity, job.stop, self._max_fidelity)
        end = end_of_run(state, Returned(told=True) if error is None else Failed(error))
        try:
            self.storage.end_run(
                job.trial_id,
                end.status,
                end.reason,
                end.message,
                now=self.clock.timestamp(),
                run=job.decision,
            )
        except TrialStateError as exc:  # ended, or lost and resumed, meanwhile
            logger.warning("tell(job of trial %d) changed nothing: %s", job.trial_id, exc)
        return self.storage.trial(job.trial_id)

    def heartbeat(self, job: Job) -> None:
        """Mark the job's trial alive (``report`` does too)."""
        self.storage.heartbeat([job.trial_id], now=self.clock.timestamp())

    def recover(self, *, stale_after: float, max_retries: int | None = 3) -> list[int]:
        """Take running trials whose heartbeat is older than ``stale_after`` seconds as lost:
        pause them so that they are resumed from their checkpoint, or fail those lost more than
        ``max_retries`` times. Returns their ids."""
        return self._race.recover_stale(stale_after=stale_after, max_retries=max_retries)

    # -- optimize -----------------------------------------------------------------------------

    def optimize(
        self,
        objective: Objective,
        budget: Budget | None = None,
        *,
        workers: int | None = None,
        executor: Executor | str | None = None,
        progress: bool | None = None,
        heartbeat_interval: float = 10.0,
        stale_after: float | None = None,
        max_failures_in_a_row: int | None = 20,
        max_retries: int | None = 3,
        stall_after: float | None = None,
        gpus: Gpus = None,
        gpus_per_worker: int = 1,
        liveness: Liveness | None = None,
    ) -> None:
        """Run the race until the budget is spent or the optimizer is done.

        Args:
            objective: ``objective(trial)`` trains ``trial.config`` over ``trial.epochs()`` and
                calls ``trial.report(value, checkpoint=...)``; or it returns the value.
            budget: the limits, counted over the whole study (a second call continues where the
                first stopped). ``None``: until the optimizer says it is done.
            workers: 1 runs jobs in this process; more run them in local worker processes (the
                objective must then be importable, and the storage a file or a server).
                Default: 1, or with ``gpus`` one worker per ``gpus_per_worker`` GPUs.
            executor: run jobs with this executor instead: an executor object, or ``"ray"`` for
                a :class:`~hyperrace.executors.RayExecutor` with ``workers`` jobs at once on the
                Ray cluster this process is connected to (or a local one it starts).
            progress: ``True``: a live display (needs the ``progress`` extra); ``False``: no
                output; ``None`` (default): the live display when standard error is a terminal
                with rich installed, else one line per ended run on standard error.
            heartbeat_interval: seconds between a running trial's heartbeats.
            stale_after: seconds without a heartbeat after which a running trial is taken as lost
                and paused, to be resumed (default: 3 heartbeat intervals).
            max_failures_in_a_row: stop with :class:`~hyperrace.ObjectiveFailingError` once this
                many runs in a row failed (``None``: never), since that is a bug in the objective
                rather than bad configurations; the trials stay recorded.
            max_retries: runs of one trial that may be lost (its worker died or stopped sending
                heartbeats) before the trial fails instead of being resumed (``None``: no limit).
            stall_after: wall-clock seconds a run may go without a report or ``trial.alive()``
                before it is taken as hung: a worker process (``workers > 1``, Ray) stops it hard
                and counts it as a lost run, to be resumed from its checkpoint (in this process,
                ``workers=1``, it is only logged). ``None`` (default): never. Give it more than
                the longest stretch between two reports (or call ``trial.alive()`` within it).
            gpus: the GPUs of this machine to train on: ``[0, 1, ...]`` (indices, or ids such as
                ``"GPU-5b2e..."``) or ``"auto"`` (every GPU PyTorch sees; where it sees none,
                the CPU, with one log line). Jobs then run in worker processes, each owning its
                GPUs (its ``CUDA_VISIBLE_DEVICES``); a run trains on ``trial.devices``, which the
                trial's record and the dashboard show. No two workers share a GPU unless it is
                listed twice. ``None`` (default): not managed.
            gpus_per_worker: GPUs each worker process owns.
            liveness: ``heartbeat_interval``, ``stale_after``, ``max_retries`` and
                ``stall_after`` as one :class:`~hyperrace.executors.Liveness` record (then leave
                those four out).

        Ctrl-C pauses the running trials at what they reported and raises a
        ``KeyboardInterrupt`` that says how many were paused (uncaught in a script, that line
        alone is printed and the process exits as Ctrl-C does, status 130); calling
        ``optimize`` again resumes them. With worker processes, a call from the top level of
        the main script outside ``if __name__ == "__main__":`` is refused with
        :class:`~hyperrace.ConfigurationError`.
        """
        live = Liveness.of(
            liveness,
            heartbeat_interval=heartbeat_interval,
            stale_after=stale_after,
            max_retries=max_retries,
            stall_after=stall_after,
        )
        race = self._race.with_liveness(live)
        RaceLoop(
            race,
            objective,
            budget=budget,
            workers=workers,
            executor=executor,
            progress=progress,
            best_by=self.best_by,
            max_failures_in_a_row=max_failures_in_a_row,
            gpus=gpus,
            gpus_per_worker=gpus_per_worker,
        ).run()

    def __repr__(self) -> str:
        storage = mask_url(self.storage.url)
        return f"Study({self.name!r}, direction={self.direction!r}, storage={storage!r})"
