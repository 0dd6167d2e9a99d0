"""The surrogates' Adam: torch's update without ``torch.optim.Adam``'s class, to the last bit,
and without importing ``torch._dynamo``."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from hyperrace.optimizers._parts.surrogate.adam import Adam  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lr", [1e-3, 1e-2, 0.3])
def test_the_same_numbers_as_torch_adam(dtype: torch.dtype, lr: float) -> None:
    """Two copies of the same parameters, one trained by ``torch.optim.Adam`` and one by
    :class:`Adam`, on the same losses (one parameter without a gradient at some steps): equal
    to the last bit after every step."""
    gen = torch.Generator().manual_seed(3)
    shapes = [(5, 4), (4,), (3, 5, 2), ()]
    first = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]
    second = [p.detach().clone().requires_grad_() for p in first]
    reference = torch.optim.Adam(first, lr=lr)
    ours = Adam(second, lr=lr)
    target = torch.randn(4, generator=gen, dtype=dtype)
    for step in range(40):
        for params, opt in ((first, reference), (second, ours)):
            opt.zero_grad()
            used = params if step % 5 else params[:2]  # the others get no gradient
            loss = sum(((p.reshape(-1)[:4] - target[: p.numel()]) ** 2).sum() for p in used)
            loss = loss + (params[0] @ params[1]).abs().sum()
            loss.backward()
            opt.step()
        for a, b in zip(first, second, strict=True):
            assert torch.equal(a, b), f"step {step}: {a} != {b}"
            assert a.dtype == b.dtype == dtype


def test_no_dynamo_import_and_bad_lr() -> None:
    code = (
        "import sys, torch\n"
        "from hyperrace.optimizers._parts.surrogate.adam import Adam\n"
        "p = torch.zeros(3, requires_grad=True)\n"
        "opt = Adam([p], lr=0.1)\n"
        "opt.zero_grad(); (p - 1).pow(2).sum().backward(); opt.step()\n"
        "assert float(p[0]) > 0\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    with pytest.raises(ValueError, match="lr=-1"):
        Adam([torch.zeros(1)], lr=-1)
