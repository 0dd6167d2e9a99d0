"""Pictures of a study: records extracted from its history, then figures drawn from them.

Extraction (:func:`race`, :func:`best_so_far`, :func:`parallel_table`, :func:`importance`,
:func:`trial_detail`) is pure and needs numpy only; the records feed the dashboard, the
``hyperrace plot`` command and the static exports alike. The ``*_figure`` functions turn them
into Plotly figure dicts (JSON for Plotly.js; no plotly Python package needed);
:func:`write_html` and :func:`write_image` (PNG, SVG, PDF) export a view to a file (the
``dashboard`` extra).

Examples:
    >>> import hyperrace as hr
    >>> from hyperrace.visual import race
    >>> space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 4))
    >>> study = hr.Study("doc-visual", space, storage="memory://", optimizer="random", seed=0)
    >>> study.optimize(lambda trial: trial.config["x"], budget=hr.Budget(trials=3), progress=False)
    >>> info = study.storage.get_study("doc-visual")
    >>> history = study.storage.history(info.study_id, decisions=True)
    >>> [(s.trial_id, s.start, s.reached, s.outcome) for s in race(history, space).segments]
    [(1, 0.0, 4.0, 'completed'), (2, 0.0, 4.0, 'completed'), (3, 0.0, 4.0, 'completed')]
"""

from hyperrace.visual._data import (
    OUTCOMES,
    BestPoint,
    BestSoFar,
    Drawn,
    Outcome,
    ParallelColumn,
    ParallelTable,
    Race,
    Segment,
    TrialDetail,
    best_so_far,
    drawn_trials,
    parallel_table,
    race,
    trial_detail,
)
from hyperrace.visual._importance import Importance, importance
from hyperrace.visual._plotly import (
    COLOUR_BY,
    Colouring,
    best_figure,
    importance_figure,
    parallel_figure,
    race_colouring,
    race_figure,
    timeline_figure,
    trial_figure,
)
from hyperrace.visual._static import (
    IMAGE_SUFFIXES,
    plotly_js_path,
    write_html,
    write_image,
    write_png,
)
from hyperrace.visual._views import VIEWS, Snapshot, figure, marker, metric_of, read, summary

__all__ = [
    "COLOUR_BY",
    "IMAGE_SUFFIXES",
    "OUTCOMES",
    "VIEWS",
    "BestPoint",
    "BestSoFar",
    "Colouring",
    "Drawn",
    "Importance",
    "Outcome",
    "ParallelColumn",
    "ParallelTable",
    "Race",
    "Segment",
    "Snapshot",
    "TrialDetail",
    "best_figure",
    "best_so_far",
    "drawn_trials",
    "figure",
    "importance",
    "importance_figure",
    "marker",
    "metric_of",
    "parallel_figure",
    "parallel_table",
    "plotly_js_path",
    "race",
    "race_colouring",
    "race_figure",
    "read",
    "summary",
    "timeline_figure",
    "trial_detail",
    "trial_figure",
    "write_html",
    "write_image",
    "write_png",
]
