"""Train the in-context learning-curve surrogate (``race:surrogate=pfn``) on the ifBO prior.

Each step draws ``--batch`` synthetic tasks of ``--seq`` points from the FT-PFN learning-curve
prior (``ifbo.priors.ftpfn_prior.get_batch``, the ``ifbo`` extra), splits them at a random
position into context (the first points) and queries (the rest: later steps of the context's
curves, and curves of their own, id 0), and takes one AdamW step on the queries' negative
log-likelihood under the bar distribution (:mod:`hyperrace.optimizers._parts.surrogate.pfn_net`).

Reproducible and resumable: batch ``i`` is drawn with numpy's and torch's global generators
seeded from ``(--seed, i)``, whatever happened before, and the run writes a checkpoint (model,
optimizer, step, tasks seen, the validation history and the generators' states) to
``--dir/checkpoint.pt`` every ``--save-every`` seconds and at the end; run the same command again
and it continues from there. Every ``--val-every`` steps the model is scored on a fixed
validation set (``--val-batches`` batches drawn with the seed ``-1 - seed`` by ifbo's own
``get_batch``, never trained on); ``--dir/log.jsonl`` gets one line per validation,
``--dir/best.pt`` the weights with the lowest validation loss so far (the format that the
``pfn`` surrogate loads; copy it to ``src/hyperrace/optimizers/_parts/surrogate/weights/pfn.pt``
to ship it).

    nohup nice -n 19 .venv/bin/python benchmarks/train_pfn.py --dir /work/pfn-train &

Learning rate: linear warm-up over ``--warmup`` steps, then a cosine decay to 10 % at
``--total`` steps, then constant at 10 %; the run stops at ``--stop`` steps (or never: 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pfn_prior  # benchmarks/pfn_prior.py

from hyperrace.optimizers._parts.surrogate import pfn_net
from hyperrace.optimizers._parts.surrogate.pfn_net import Bars, NetConfig, PFNNet


def _seed(seed: int, i: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:4], "little")


def draw(
    seed: int, i: int, batch: int, seq: int, features: int, max_ids: int, prior: str = "fast"
) -> dict[str, Any]:
    """Batch ``i``: tensors of context and query tokens, values, and the used-columns mask.

    Its tasks have ``seq``, ``seq / 2`` or ``seq / 4`` points (one of the three at random), and
    there are ``batch``, ``2 * batch`` or ``4 * batch`` of them: the same number of points."""
    from ifbo.priors import ftpfn_prior

    s = _seed(seed, i)
    np.random.seed(s)
    torch.manual_seed(s)
    rng = np.random.default_rng(s)
    shrink = 2 ** int(rng.integers(0, 3))
    seq, batch = max(2, seq // shrink), batch * shrink
    # context size: uniform in [0, seq - 1] (at least one query)
    n_ctx = int(rng.integers(0, seq))
    k = int(rng.integers(1, features + 1))
    if prior == "fast":
        x, y = pfn_prior.get_batch(batch, seq, n_ctx, k)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = ftpfn_prior.get_batch(
                batch, seq, 2 + features, n_ctx, device="cpu", hyperparameters={"hp_dim": k}
            )
        x = b.x.transpose(0, 1).contiguous()  # (batch, seq, 2 + k)
        y = b.y.transpose(0, 1).contiguous()
    # curve ids: the prior numbers curves by their position; map them to a random subset of
    # 1..max_ids (0 stays 0: a query's curve that has no context point)
    ids = x[..., 0].long()
    perm = torch.from_numpy(
        np.stack([np.r_[0, rng.permutation(max_ids)[:seq] + 1] for _ in range(batch)])
    )
    ids = torch.gather(perm, 1, ids.clamp(0, seq))
    tok = torch.zeros(batch, seq, 2 + features)
    tok[..., 0] = ids.float()
    tok[..., 1] = x[..., 1]
    tok[..., 2 : 2 + k] = x[..., 2:]
    used = torch.zeros(batch, features)
    used[:, :k] = 1.0
    return {
        "ctx": tok[:, :n_ctx],
        "ctx_y": y[:, :n_ctx],
        "qry": tok[:, n_ctx:],
        "qry_y": y[:, n_ctx:],
        "used": used,
    }


def loss_of(net: PFNNet, bars: Bars, b: dict[str, Any]) -> torch.Tensor:
    logits = net(b["ctx"], b["ctx_y"], b["qry"], b["used"])
    return bars.nll(logits, b["qry_y"].clamp(0.0, 1.0)).mean()


def lr_at(step: int, args: argparse.Namespace) -> float:
    if step < args.warmup:
        return float(args.lr * (step + 1) / args.warmup)
    frac = min(1.0, (step - args.warmup) / max(1, args.total - args.warmup))
    return float(args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", type=Path, required=True, help="checkpoints and logs go here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--batch", type=int, default=4, help="tasks per step (of --seq points; x2, x4 if shorter)"
    )
    p.add_argument("--seq", type=int, default=1000, help="most points per task")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--bins", type=int, default=1000)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--total", type=int, default=40_000, help="steps of the cosine decay")
    p.add_argument("--stop", type=int, default=0, help="stop after this many steps (0: never)")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--val-batches", type=int, default=8)
    p.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--prior",
        choices=["fast", "ifbo"],
        default="fast",
        help="fast: benchmarks/pfn_prior.py (the same law, vectorised); ifbo: ifbo's get_batch",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.dir / "checkpoint.pt"

    config = NetConfig(
        width=args.width, layers=args.layers, heads=args.heads, hidden=args.hidden, bins=args.bins
    )
    bars = Bars.uniform(config.bins)
    torch.manual_seed(_seed(args.seed, -1_000_000))
    net = PFNNet(config)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    step, tasks, history, best, spent = 0, 0, [], math.inf, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        if ck["config"] != config.to_dict():
            raise SystemExit(f"{ckpt_path} holds another architecture: {ck['config']}")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, tasks, history = ck["step"], ck["tasks"], ck["history"]
        best, spent = ck["best"], ck.get("seconds", 0.0)
        print(f"resumed at step {step} ({tasks} tasks, {spent / 3600:.2f} h)", flush=True)
    n = sum(q.numel() for q in net.parameters())
    print(f"{n} parameters; {config}", flush=True)

    val = [
        draw(-1 - args.seed, j, args.batch, args.seq, config.features, config.max_ids, "ifbo")
        for j in range(args.val_batches)
    ]

    def validate() -> float:
        net.eval()
        with torch.no_grad():
            v = float(np.mean([float(loss_of(net, bars, b)) for b in val]))
        net.train()
        return v

    def meta() -> dict[str, Any]:
        return {
            "steps": step,
            "tasks": tasks,
            "seconds": round(spent),
            "val_loss": history[-1]["val"] if history else None,
            "prior": f"ifbo 0.4.1 ftpfn_prior ({args.prior})",
            "batch": args.batch,
            "seq": args.seq,
            "lr": args.lr,
            "seed": args.seed,
        }

    def save() -> None:
        ck = {
            "config": config.to_dict(),
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "tasks": tasks,
            "history": history,
            "best": best,
            "seconds": spent,
            "args": vars(args) | {"dir": str(args.dir)},
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()},
        }
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(ck, tmp)
        os.replace(tmp, ckpt_path)

    net.train()
    last_save = time.time()
    window: list[float] = []
    while args.stop == 0 or step < args.stop:
        t0 = time.time()
        b = draw(args.seed, step, args.batch, args.seq, config.features, config.max_ids, args.prior)
        t1 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        loss = loss_of(net, bars, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        tasks += b["qry"].shape[0]
        spent += time.time() - t0
        window.append(loss.item())
        if step % 50 == 0:
            print(
                f"step {step} tasks {tasks} loss {np.mean(window):.4f} "
                f"prior {t1 - t0:.2f}s step {time.time() - t1:.2f}s",
                flush=True,
            )
            window = []
        if step % args.val_every == 0:
            v = validate()
            row = {"step": step, "tasks": tasks, "seconds": round(spent), "val": v}
            history.append(row)
            with open(args.dir / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"validation {row}", flush=True)
            if v < best:
                best = v
                blob = pfn_net.state(net, bars, meta())
                torch.save(blob, args.dir / "best.tmp")
                os.replace(args.dir / "best.tmp", args.dir / "best.pt")
        if time.time() - last_save > args.save_every:
            save()
            last_save = time.time()
    save()


if __name__ == "__main__":
    main()
