"""The compiled path of the textbook cells: whole-sequence loops compiled with TorchScript, and hand-derived BPTT.

Eager cells let autograd record every op of every step; on a CPU that costs a few microseconds per op, and the
weight gradient ``dW_hh`` becomes ``T`` thin ``(G*H, B) x (B, H)`` products. Here one layer-direction is one
``torch.autograd.Function``:

- forward: a TorchScript loop over time (no autograd recording) that keeps the gate activations;
- backward: a TorchScript loop running the step equations backwards (the derivatives below), then ``dW_hh`` and
  ``db_hh`` as *one* product over all ``T*B`` rows: ``dW_hh = sum_t dG_t^T h_{t-1}``.

The input projection ``gi = W_ih x + b_ih`` stays outside, so autograd takes ``dG`` to ``dx``, ``dW_ih``, ``db_ih``
in one product too. Masked steps (``lengths``) keep the state: ``h_t = m_t h'_t + (1 - m_t) h_{t-1}``.

Derivatives (``d`` = gradient of the loss, ``dh``, ``dc`` the gradients reaching ``h'``, ``c'``):

- Elman: ``dpre = dh * (1 - h'^2)`` (tanh) or ``dh * [h' > 0]`` (relu); ``dh_{t-1} = dpre W_hh``.
- LSTM: ``dc += dh o (1 - tanh(c')^2)``; ``di = dc g i(1-i)``, ``df = dc c f(1-f)``, ``dg = dc i (1-g^2)``,
  ``do = dh tanh(c') o(1-o)``; ``dc_{t-1} = dc f``, ``dh_{t-1} = [di, df, dg, do] W_hh``.
- GRU (``nn.GRU`` form, ``hn = W_hn h + b_hn``): ``dn = dh (1-z)(1-n^2)``, ``dz = dh (h-n) z(1-z)``,
  ``dr = dn hn r(1-r)``; the input side gets ``[dr, dz, dn]``, the hidden side ``[dr, dz, r dn]``,
  ``dh_{t-1} = dh z + [dr, dz, r dn] W_hh``.

Only the standard cells (rnn tanh/relu, lstm, gru) have kernels; variants run eagerly. The backward is
once-differentiable: for higher-order gradients use the eager cells (``compile=false``).
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def rnn_forward(
    gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, mask: Tensor | None, reverse: bool, relu: bool
) -> tuple[Tensor, Tensor]:
    """States ``(T, B, H)`` and activations ``h'`` ``(T, B, H)`` of an Elman layer."""
    steps = gi.size(0)
    acts = gi.clone() if b_hh is None else gi + b_hh
    hs = torch.empty_like(acts) if mask is not None else acts
    w_t = w_hh.t()
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        a = acts[t]
        a.addmm_(h, w_t)
        if relu:
            a.relu_()
        else:
            a.tanh_()
        if mask is not None:
            torch.where(mask[t], a, h, out=hs[t])
        h = hs[t]
    return hs, acts


def rnn_backward(
    d_hs: Tensor, dh: Tensor, acts: Tensor, w_hh: Tensor, mask: Tensor | None, reverse: bool, relu: bool
) -> tuple[Tensor, Tensor]:
    """Gradients of the pre-activations ``(T, B, H)`` and of ``h_0``."""
    steps = acts.size(0)
    if relu:  # act'(pre) for all steps at once
        slope = (acts > 0).to(acts.dtype)
    else:
        slope = torch.mul(acts, acts)
        slope.neg_().add_(1)
    keep = torch.zeros_like(acts.narrow(2, 0, 1))
    if mask is not None:
        slope.mul_(mask)
        keep = (~mask).to(acts.dtype)
    d_gates = torch.empty_like(acts)
    for k in range(steps):
        t = k if reverse else steps - 1 - k
        dh = dh + d_hs[t]
        torch.mul(dh, slope[t], out=d_gates[t])
        if mask is not None:
            dh = torch.addcmul(d_gates[t].mm(w_hh), dh, keep[t])
        else:
            dh = d_gates[t].mm(w_hh)
    return d_gates, dh


def lstm_forward(
    gi: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None, mask: Tensor | None, reverse: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """States ``h``, ``c``, ``tanh(c')`` ``(T, B, H)`` and activated gates ``[i, f, g, o]`` ``(T, B, 4H)``."""
    steps = gi.size(0)
    hidden = h.size(1)
    acts = gi.clone() if b_hh is None else gi + b_hh
    hs = torch.empty_like(acts.narrow(2, 0, hidden))
    cs = torch.empty_like(hs)
    tcs = torch.empty_like(hs)
    w_t = w_hh.t()
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        a = acts[t]
        a.addmm_(h, w_t)
        a.narrow(1, 0, 2 * hidden).sigmoid_()
        a.narrow(1, 2 * hidden, hidden).tanh_()
        a.narrow(1, 3 * hidden, hidden).sigmoid_()
        i = a.narrow(1, 0, hidden)
        f = a.narrow(1, hidden, hidden)
        g = a.narrow(1, 2 * hidden, hidden)
        o = a.narrow(1, 3 * hidden, hidden)
        if mask is None:
            torch.addcmul(f * c, i, g, out=cs[t])
            torch.tanh(cs[t], out=tcs[t])
            torch.mul(o, tcs[t], out=hs[t])
        else:
            c_new = torch.addcmul(f * c, i, g)
            torch.tanh(c_new, out=tcs[t])
            torch.where(mask[t], c_new, c, out=cs[t])
            torch.where(mask[t], o * tcs[t], h, out=hs[t])
        h = hs[t]
        c = cs[t]
    return hs, cs, tcs, acts


def lstm_backward(
    d_hs: Tensor,
    dh: Tensor,
    dc: Tensor,
    cs: Tensor,
    c0: Tensor,
    tcs: Tensor,
    acts: Tensor,
    w_hh: Tensor,
    mask: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the gate pre-activations ``(T, B, 4H)``, of ``h_0`` and of ``c_0``.

    Every factor that does not depend on the incoming gradient is computed for all steps at once (one allocation
    each, then in place), so a step is a handful of ops: ``dc += dh k_c``; ``[di, df, dg] = dc [k_i, k_f, k_g]``;
    ``do = dh k_o``; ``dc *= f``; ``dh = [di, df, dg, do] W_hh``.
    """
    steps, batch = acts.size(0), acts.size(1)
    hidden = c0.size(1)
    i, f, g, o = acts.chunk(4, 2)
    k_c = torch.mul(tcs, tcs)
    k_c.neg_().add_(1).mul_(o)  # o (1 - tanh(c')^2)
    k_o = torch.mul(o, o)
    k_o.neg_().add_(o).mul_(tcs)  # o (1 - o) tanh(c')
    k_ifg = acts.new_empty(steps, batch, 3 * hidden)
    k_i, k_f, k_g = k_ifg.chunk(3, 2)
    torch.mul(i, i, out=k_i)
    k_i.neg_().add_(i).mul_(g)  # i (1 - i) g
    torch.mul(f, f, out=k_f)
    k_f.neg_().add_(f)
    _mul_previous_(k_f, cs, c0, reverse)  # f (1 - f) c_{t-1}
    torch.mul(g, g, out=k_g)
    k_g.neg_().add_(1).mul_(i)  # (1 - g^2) i
    keep = torch.zeros_like(k_c.narrow(2, 0, 1))
    if mask is not None:
        k_c.mul_(mask)
        k_ifg.mul_(mask)
        k_o.mul_(mask)
        f = torch.where(mask, f, torch.ones_like(f))
        keep = (~mask).to(acts.dtype)
    d_gates = torch.empty_like(acts)
    for k in range(steps):
        t = k if reverse else steps - 1 - k
        dh = dh + d_hs[t]
        dc = torch.addcmul(dc, dh, k_c[t])
        dg = d_gates[t]
        torch.mul(
            k_ifg[t].view(batch, 3, hidden),
            dc.unsqueeze(1),
            out=dg.narrow(1, 0, 3 * hidden).view(batch, 3, hidden),
        )
        torch.mul(dh, k_o[t], out=dg.narrow(1, 3 * hidden, hidden))
        dc = dc * f[t]
        if mask is not None:
            dh = torch.addcmul(dg.mm(w_hh), dh, keep[t])
        else:
            dh = dg.mm(w_hh)
    return d_gates, dh, dc


def gru_forward(
    gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, mask: Tensor | None, reverse: bool
) -> tuple[Tensor, Tensor]:
    """States ``(T, B, H)`` and ``[r, z, n, W_hn h + b_hn]`` ``(T, B, 4H)`` of a GRU layer."""
    steps = gi.size(0)
    hidden = h.size(1)
    acts = gi.new_empty(steps, gi.size(1), 4 * hidden)
    hs = torch.empty_like(acts.narrow(2, 0, hidden))
    w_t = w_hh.t()
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        gh = h.mm(w_t) if b_hh is None else torch.addmm(b_hh, h, w_t)
        x = gi[t]
        a = acts[t]
        rz = a.narrow(1, 0, 2 * hidden)
        torch.add(x.narrow(1, 0, 2 * hidden), gh.narrow(1, 0, 2 * hidden), out=rz)
        rz.sigmoid_()
        r = a.narrow(1, 0, hidden)
        z = a.narrow(1, hidden, hidden)
        hn = a.narrow(1, 3 * hidden, hidden)
        hn.copy_(gh.narrow(1, 2 * hidden, hidden))
        n = a.narrow(1, 2 * hidden, hidden)
        torch.addcmul(x.narrow(1, 2 * hidden, hidden), r, hn, out=n)
        n.tanh_()
        if mask is None:
            torch.addcmul(n, z, h - n, out=hs[t])
        else:
            torch.where(mask[t], torch.addcmul(n, z, h - n), h, out=hs[t])
        h = hs[t]
    return hs, acts


def gru_backward(
    d_hs: Tensor, dh: Tensor, hs: Tensor, h0: Tensor, acts: Tensor, w_hh: Tensor, mask: Tensor | None, reverse: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the input-side ``(T, B, 3H)`` and hidden-side ``(T, B, 3H)`` pre-activations, and of ``h_0``.

    With ``k_n = (1-z)(1-n^2)``, ``k_z = (h-n) z(1-z)``, ``k_r = k_n hn r(1-r)`` (all steps at once), a step is
    ``d_in = dh [k_r, k_z, k_n]``, ``d_hid = dh [k_r, k_z, r k_n]``, ``dh <- dh z + d_hid W_hh``.
    """
    steps, batch = acts.size(0), acts.size(1)
    hidden = h0.size(1)
    r, z, n, hn = acts.chunk(4, 2)
    k_in = acts.new_empty(steps, batch, 3 * hidden)
    k_r, k_z, k_n = k_in.chunk(3, 2)
    torch.mul(n, n, out=k_n)
    k_n.neg_().add_(1).mul_(1 - z)  # (1 - n^2)(1 - z)
    torch.mul(r, r, out=k_r)
    k_r.neg_().add_(r).mul_(hn).mul_(k_n)  # r (1 - r) hn k_n
    torch.neg(n, out=k_z)
    _add_previous_(k_z, hs, h0, reverse)
    k_z.mul_(z).mul_(1 - z)  # (h_{t-1} - n) z (1 - z)
    k_hid = k_in.clone()
    k_hid.narrow(2, 2 * hidden, hidden).mul_(r)
    if mask is not None:
        k_in.mul_(mask)
        k_hid.mul_(mask)
        z = torch.where(mask, z, torch.ones_like(z))
    d_in = torch.empty_like(k_in)
    d_hid = torch.empty_like(k_hid)
    for k in range(steps):
        t = k if reverse else steps - 1 - k
        dh = (dh + d_hs[t]).unsqueeze(1)
        torch.mul(k_in[t].view(batch, 3, hidden), dh, out=d_in[t].view(batch, 3, hidden))
        torch.mul(k_hid[t].view(batch, 3, hidden), dh, out=d_hid[t].view(batch, 3, hidden))
        dh = torch.addmm(dh.squeeze(1) * z[t], d_hid[t], w_hh)
    return d_in, d_hid, dh


def _mul_previous_(dst: Tensor, states: Tensor, first: Tensor, reverse: bool) -> None:
    """``dst[t] *= the state entering step t`` (``states[t-1]``, ``states[t+1]`` in reverse, ``first`` at the
    first step) without building the shifted tensor."""
    steps = dst.size(0)
    if reverse:
        dst.narrow(0, 0, steps - 1).mul_(states.narrow(0, 1, steps - 1))
        dst[steps - 1].mul_(first)
    else:
        dst.narrow(0, 1, steps - 1).mul_(states.narrow(0, 0, steps - 1))
        dst[0].mul_(first)


def _add_previous_(dst: Tensor, states: Tensor, first: Tensor, reverse: bool) -> None:
    """``dst[t] += the state entering step t``, as :func:`_mul_previous_`."""
    steps = dst.size(0)
    if reverse:
        dst.narrow(0, 0, steps - 1).add_(states.narrow(0, 1, steps - 1))
        dst[steps - 1].add_(first)
    else:
        dst.narrow(0, 1, steps - 1).add_(states.narrow(0, 0, steps - 1))
        dst[0].add_(first)


_PY = {
    "rnn_forward": rnn_forward,
    "rnn_backward": rnn_backward,
    "lstm_forward": lstm_forward,
    "lstm_backward": lstm_backward,
    "gru_forward": gru_forward,
    "gru_backward": gru_backward,
}


@cache
def kernels() -> dict[str, Any]:
    """The loops compiled with TorchScript; the plain Python ones (same math) if scripting fails."""
    try:
        return {name: torch.jit.script(fn) for name, fn in _PY.items()}
    except Exception as exc:  # never crash: TorchScript is optional
        warnings.warn(f"TorchScript failed ({type(exc).__name__}: {exc}); cell kernels run as Python", stacklevel=2)
        return dict(_PY)


def _hidden_grads(
    d_gates: Tensor, hs: Tensor, h0: Tensor, reverse: bool, need_w: bool, need_b: bool
) -> tuple[Tensor | None, Tensor | None]:
    """``dW_hh = sum_t dG_t^T h_{t-1}`` and ``db_hh = sum_t dG_t`` as single products over all steps (the state
    entering step t is ``hs[t-1]``, ``hs[t+1]`` in reverse, ``h0`` at the first step)."""
    steps, rows = d_gates.size(0), d_gates.size(-1)
    dw = db = None
    if need_w:
        dw = d_gates[steps - 1 if reverse else 0].t().mm(h0)
        if steps > 1:
            inner = d_gates.narrow(0, 0, steps - 1) if reverse else d_gates.narrow(0, 1, steps - 1)
            prev = hs.narrow(0, 1, steps - 1) if reverse else hs.narrow(0, 0, steps - 1)
            dw.addmm_(inner.reshape(-1, rows).t(), prev.reshape(-1, prev.size(-1)))
    if need_b:
        db = d_gates.reshape(-1, rows).sum(0)
    return dw, db


def _masked(out: Tensor, mask: Tensor | None) -> Tensor:
    return out if mask is None else out * mask


class RNNLayer(torch.autograd.Function):
    """One Elman layer-direction: ``(gi, h0, w_hh, b_hh, mask, reverse, relu) -> (out, h_n)``."""

    @staticmethod
    def forward(ctx: Any, gi, h0, w_hh, b_hh, mask, reverse: bool, relu: bool):  # type: ignore[override]
        hs, acts = kernels()["rnn_forward"](gi.contiguous(), h0, w_hh, b_hh, mask, reverse, relu)
        ctx.save_for_backward(hs, acts, h0, w_hh, mask)
        ctx.flags = (reverse, relu)
        return _masked(hs, mask), hs[0 if reverse else -1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out, d_hn):  # type: ignore[override]
        hs, acts, h0, w_hh, mask = ctx.saved_tensors
        reverse, relu = ctx.flags
        d_gates, dh0 = kernels()["rnn_backward"](_masked(d_out, mask), d_hn, acts, w_hh, mask, reverse, relu)
        need = ctx.needs_input_grad
        dw, db = _hidden_grads(d_gates, hs, h0, reverse, need[2], need[3])
        return d_gates, dh0, dw, db, None, None, None


class LSTMLayer(torch.autograd.Function):
    """One LSTM layer-direction: ``(gi, h0, c0, w_hh, b_hh, mask, reverse) -> (out, h_n, c_n)``."""

    @staticmethod
    def forward(ctx: Any, gi, h0, c0, w_hh, b_hh, mask, reverse: bool):  # type: ignore[override]
        hs, cs, tcs, acts = kernels()["lstm_forward"](gi.contiguous(), h0, c0, w_hh, b_hh, mask, reverse)
        ctx.save_for_backward(hs, cs, tcs, acts, h0, c0, w_hh, mask)
        ctx.reverse = reverse
        last = 0 if reverse else -1
        return _masked(hs, mask), hs[last].clone(), cs[last].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out, d_hn, d_cn):  # type: ignore[override]
        hs, cs, tcs, acts, h0, c0, w_hh, mask = ctx.saved_tensors
        reverse = ctx.reverse
        d_gates, dh0, dc0 = kernels()["lstm_backward"](
            _masked(d_out, mask), d_hn, d_cn, cs, c0, tcs, acts, w_hh, mask, reverse
        )
        need = ctx.needs_input_grad
        dw, db = _hidden_grads(d_gates, hs, h0, reverse, need[3], need[4])
        return d_gates, dh0, dc0, dw, db, None, None


class GRULayer(torch.autograd.Function):
    """One GRU layer-direction: ``(gi, h0, w_hh, b_hh, mask, reverse) -> (out, h_n)``."""

    @staticmethod
    def forward(ctx: Any, gi, h0, w_hh, b_hh, mask, reverse: bool):  # type: ignore[override]
        hs, acts = kernels()["gru_forward"](gi.contiguous(), h0, w_hh, b_hh, mask, reverse)
        ctx.save_for_backward(hs, acts, h0, w_hh, mask)
        ctx.reverse = reverse
        return _masked(hs, mask), hs[0 if reverse else -1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out, d_hn):  # type: ignore[override]
        hs, acts, h0, w_hh, mask = ctx.saved_tensors
        reverse = ctx.reverse
        d_in, d_hid, dh0 = kernels()["gru_backward"](_masked(d_out, mask), d_hn, hs, h0, acts, w_hh, mask, reverse)
        need = ctx.needs_input_grad
        dw, db = _hidden_grads(d_hid, hs, h0, reverse, need[2], need[3])
        return d_in, dh0, dw, db, None, None


def run_layer(
    mode: str,
    gi: Tensor,
    state: tuple[Tensor, ...],
    w_hh: Tensor,
    b_hh: Tensor | None,
    mask: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Time-major ``gi`` ``(T, B, G*H)`` -> ``(out (T, B, H), final state)``; ``mode`` in rnn_tanh, rnn_relu,
    lstm, gru; ``mask`` ``(T, B, 1)`` bool (True at valid steps) or None."""
    if mode == "lstm":
        out, h, c = LSTMLayer.apply(gi, state[0], state[1], w_hh, b_hh, mask, reverse)
        return out, (h, c)
    if mode == "gru":
        out, h = GRULayer.apply(gi, state[0], w_hh, b_hh, mask, reverse)
        return out, (h,)
    out, h = RNNLayer.apply(gi, state[0], w_hh, b_hh, mask, reverse, mode == "rnn_relu")
    return out, (h,)


KERNEL_MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
