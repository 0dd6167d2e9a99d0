"""Schema version 8: on PostgreSQL, a report is one call of the function ``hr_report``, a
decision one call of ``hr_decide`` and the end of a run one call of ``hr_end_run``.

A report used to be six round trips to the server (begin, lock and read the trial, count the
study's change, write the observation, update the trial, commit). ``hr_report`` does the same
in one statement, its own transaction: it locks the trial, checks that it is running and that
the report comes from its current run, computes the steps trained, counts the change of the
study (taking the report into the study's best values), writes the observation with the
study's version and updates the trial. It writes nothing and answers ``'check'`` when the
report is not that common case (no such trial, a trial that is not running, a stale run, a
retrained step), so that the client takes its general path, which raises the error or
recomputes the best values; ``'same'`` when the report is stored already with the same value
and time (its commit went through but the answer was lost).

``hr_decide`` records a decision (a start without a queued configuration, or a resume) the
same way: it answers ``'conflict'`` and writes nothing when another process took the decision's
index (or the trial to resume is not paused any more), ``'check'`` when a decision with its key
is stored already (the client's general path returns that one). ``hr_end_run`` pauses or
completes a running trial (``'check'``: anything else, for the general path). SQLite has no
such functions and does not need them: there a round trip is a function call.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BETTER = (
    "({best} IS NULL OR (s.direction = 'minimize' AND {best} > p_value) "
    "OR (s.direction = 'maximize' AND {best} < p_value))"
)

REPORT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION hr_report(
    p_trial integer,
    p_fidelity double precision,
    p_value double precision,
    p_wall double precision,
    p_cpu double precision,
    p_time double precision,
    p_work double precision,
    p_checkpoint double precision,
    p_run integer,
    OUT code text,
    OUT granted double precision
) LANGUAGE plpgsql AS $body$
DECLARE
    t_status text;
    t_study integer;
    t_run integer;
    reached double precision;
    s_value double precision;
    s_time double precision;
    is_last boolean;
    v integer;
BEGIN
    SELECT t.status, t.target, t.study_id, t.run INTO t_status, granted, t_study, t_run
        FROM hr_trials t WHERE t.trial_id = p_trial FOR UPDATE;
    IF NOT FOUND OR t_status <> 'running'
            OR (p_run IS NOT NULL AND t_run IS NOT NULL AND p_run <> t_run) THEN
        code := 'check';
        RETURN;
    END IF;
    SELECT o.value, o.time INTO s_value, s_time
        FROM hr_observations o WHERE o.trial_id = p_trial AND o.fidelity = p_fidelity;
    IF FOUND THEN
        code := CASE WHEN s_value = p_value AND s_time = p_time THEN 'same' ELSE 'check' END;
        RETURN;
    END IF;
    SELECT max(o.fidelity) INTO reached FROM hr_observations o WHERE o.trial_id = p_trial;
    is_last := reached IS NULL OR p_fidelity >= reached;
    UPDATE hr_studies s SET
        version = s.version + 1,
        best_curve = CASE WHEN {_BETTER.format(best="s.best_curve")}
            THEN p_value ELSE s.best_curve END,
        top_fidelity = CASE
            WHEN is_last AND (s.top_fidelity IS NULL OR s.top_fidelity < p_fidelity)
            THEN p_fidelity ELSE s.top_fidelity END,
        best_last = CASE
            WHEN NOT is_last THEN s.best_last
            WHEN s.top_fidelity IS NULL OR s.top_fidelity < p_fidelity THEN p_value
            WHEN s.top_fidelity = p_fidelity AND {_BETTER.format(best="s.best_last")}
            THEN p_value
            ELSE s.best_last END
        WHERE s.study_id = t_study
        RETURNING s.version INTO v;
    INSERT INTO hr_observations (trial_id, fidelity, value, wall_seconds, cpu_seconds, time, seq)
        VALUES (p_trial, p_fidelity, p_value, p_wall, p_cpu, p_time, v);
    UPDATE hr_trials t SET
        work = t.work + GREATEST(COALESCE(p_work, p_fidelity - COALESCE(reached, 0.0)), 0.0),
        updated = p_time,
        heartbeat = p_time,
        checkpoint_fidelity = COALESCE(p_checkpoint, t.checkpoint_fidelity),
        version = v
        WHERE t.trial_id = p_trial;
    code := 'ok';
END
$body$
"""

DECIDE_FUNCTION = """
CREATE OR REPLACE FUNCTION hr_decide(
    p_study integer,
    p_index integer,
    p_kind text,
    p_key text,
    p_config text,
    p_trial integer,
    p_stop double precision,
    p_optimizer text,
    p_info text,
    p_now double precision,
    OUT code text,
    OUT trial_id integer,
    OUT start double precision,
    OUT number integer
) LANGUAGE plpgsql AS $body$
DECLARE
    t_status text;
    v integer;
BEGIN
    start := 0.0;
    PERFORM 1 FROM hr_decisions d WHERE d.study_id = p_study AND d.decision_key = p_key;
    IF FOUND THEN
        code := 'check';
        RETURN;
    END IF;
    IF p_kind = 'resume' THEN
        -- the trial's lock before the study's, as every transaction takes them
        SELECT t.status INTO t_status FROM hr_trials t
            WHERE t.trial_id = p_trial AND t.study_id = p_study FOR UPDATE;
        IF NOT FOUND OR t_status <> 'paused' THEN
            code := 'conflict';
            RETURN;
        END IF;
    END IF;
    -- decisions are written under the study's lock: the count is then the next index
    PERFORM 1 FROM hr_studies s WHERE s.study_id = p_study FOR UPDATE;
    IF (SELECT count(*) FROM hr_decisions d WHERE d.study_id = p_study) <> p_index THEN
        code := 'conflict';
        RETURN;
    END IF;
    UPDATE hr_studies s SET version = s.version + 1 WHERE s.study_id = p_study
        RETURNING s.version INTO v;
    IF p_kind = 'start' THEN
        number := (SELECT count(*) FROM hr_trials t WHERE t.study_id = p_study);
        INSERT INTO hr_trials (study_id, number, config, status, reason, message, target, work,
                lost_count, created, updated, heartbeat, run, user_attrs, version)
            VALUES (p_study, number, p_config, 'running', 'none', '', p_stop, 0.0, 0, p_now,
                p_now, p_now, p_index, '{}', v)
            RETURNING hr_trials.trial_id INTO trial_id;
    ELSE
        trial_id := p_trial;
        UPDATE hr_trials t SET status = 'running', reason = 'none', message = '',
                target = p_stop, updated = p_now, heartbeat = p_now, run = p_index, version = v
            WHERE t.trial_id = p_trial;
        start := (SELECT coalesce(max(o.fidelity), 0.0) FROM hr_observations o
            WHERE o.trial_id = p_trial);
    END IF;
    INSERT INTO hr_decisions (study_id, idx, kind, trial_id, start, stop, optimizer, info, time,
            decision_key)
        VALUES (p_study, p_index, p_kind, trial_id, start, p_stop, p_optimizer, p_info, p_now,
            p_key);
    code := 'ok';
END
$body$
"""

END_RUN_FUNCTION = """
CREATE OR REPLACE FUNCTION hr_end_run(
    p_trial integer,
    p_status text,
    p_reason text,
    p_message text,
    p_now double precision,
    p_run integer,
    OUT code text
) LANGUAGE plpgsql AS $body$
DECLARE
    t_status text;
    t_study integer;
    t_run integer;
    v integer;
BEGIN
    SELECT t.status, t.study_id, t.run INTO t_status, t_study, t_run
        FROM hr_trials t WHERE t.trial_id = p_trial FOR UPDATE;
    IF NOT FOUND OR t_status <> 'running' OR p_status NOT IN ('paused', 'completed')
            OR (p_run IS NOT NULL AND t_run IS NOT NULL AND p_run <> t_run) THEN
        code := 'check';
        RETURN;
    END IF;
    UPDATE hr_studies s SET version = s.version + 1 WHERE s.study_id = t_study
        RETURNING s.version INTO v;
    UPDATE hr_trials t SET status = p_status, reason = p_reason, message = p_message,
            updated = p_now, heartbeat = NULL, version = v
        WHERE t.trial_id = p_trial;
    code := 'ok';
END
$body$
"""

_SIGNATURES = (
    "hr_report(integer, double precision, double precision, double precision, "
    "double precision, double precision, double precision, double precision, integer)",
    "hr_decide(integer, integer, text, text, text, integer, double precision, text, text, "
    "double precision)",
    "hr_end_run(integer, text, text, text, double precision, integer)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql(REPORT_FUNCTION)
        op.get_bind().exec_driver_sql(DECIDE_FUNCTION)
        op.get_bind().exec_driver_sql(END_RUN_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for signature in _SIGNATURES:
            op.get_bind().exec_driver_sql(f"DROP FUNCTION IF EXISTS {signature}")
