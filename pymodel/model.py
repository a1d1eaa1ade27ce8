"""The QKSpike spiking transformer in PyTorch: float training and exact integer fake-quant.

Network (``shared/docs/ARCHITECTURE.md`` section 2; tokens and time steps are frames)::

    r   = enc(x)                              causal conv over time, stride s, uint8 x int8
    per block:
      a   = N_in(r);  [q|k] = N_qk([Wq|Wk] a + b)
      m   = per head: sum(q over head) >= theta_attn;  k' = m * k      (QKFormer token attention)
      r   = sat(r + rescale(Wo k' + bo))
      a2  = N_mlp(r);  h = N_hid(W1 a2 + b1);  r = sat(r + rescale(W2 h + b2))
    s   = N_head(r);  n = sum_t s;  logits = Wc n + bc

Two numerics run the same topology:

* ``float``: real weights and thresholds, leak as a multiply; the reference network.
* ``integer``: every tensor holds integers (in float32, exact below 2**24): weights on a
  power-of-two grid clipped to int8, thresholds and biases rounded, the leak an exact floor
  shift, spikes exact comparisons, the residual rescaled with the contract's rounding and
  saturated. Gradients flow through straight-through estimators, so this *is* quantization-
  aware training, and its forward pass equals the golden model bit for bit
  (``tests/test_golden_network.py``). :func:`integer_forward` runs it from a model file's
  integers alone.

Surrogate gradient of a spike ``s = clamp(floor(h/theta), 0, D)``: straight-through inside
``0 < h/theta < D + 1`` (for ``D = 1`` a rectangle of width 2 around the threshold).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from . import topology
from .golden import contract
from .model_config import GROUPS, ModelConfig, NeuronConfig

__all__ = ["ModelConfig", "NeuronConfig", "QKSpikeNet", "integer_forward", "dense_activity",
           "GROUPS"]

# --- straight-through pieces: exact forward, chosen backward --------------------------------

def _ste(exact: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """Forward value ``exact`` (bit for bit: ``x - x == 0``), gradient of ``surrogate``."""
    return exact.detach() + (surrogate - surrogate.detach())


def _spike(h: torch.Tensor, theta: torch.Tensor, levels: int, exact_comparisons: bool):
    ratio = h / theta
    if exact_comparisons:
        # The contract's D comparisons h >= j*theta: integers, no division in the forward.
        exact = sum((h >= j * theta).to(h.dtype) for j in range(1, levels + 1))
    else:
        exact = torch.clamp(torch.floor(ratio), 0, levels)
    return _ste(exact, torch.clamp(ratio, 0.0, levels + 1.0))


def _floor_shift(v: torch.Tensor, shift: int | torch.Tensor) -> torch.Tensor:
    """``v >> shift`` (floor) with gradient ``2**-shift``; ``shift`` one for all channels
    or one per channel (the last dimension)."""
    scaled = v * 2.0 ** -shift
    return _ste(torch.floor(scaled), scaled)


def _leak_shift(config: ModelConfig, kind: str, like: torch.Tensor):
    """A neuron kind's leak shift: ``None``, an ``int``, or with per-head leak shifts a
    tensor of one shift per channel (:func:`pymodel.topology.leak_shifts`)."""
    shift = topology.leak_shifts(config, kind)
    if isinstance(shift, tuple):
        return torch.tensor(shift, dtype=like.dtype, device=like.device)
    return shift


def _saturate(x: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.clamp(x, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _rescale(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Contract ``rescale``: ``(x + 2**(shift-1)) >> shift``, gradient ``2**-shift``."""
    if shift == 0:
        return x
    return _ste(torch.floor((x + (1 << (shift - 1))) / (1 << shift)), x / (1 << shift))


#: The reset modes of ``contract.ResetMode`` on tensors (``contract.reset_membrane``'s rules).
_RESET = {
    contract.ResetMode.SOFT: lambda h, s, theta: h - s * theta,
    contract.ResetMode.HARD: lambda h, s, theta: h * (s == 0).to(h.dtype),
}


def _round(x: torch.Tensor, lo: float = -math.inf, hi: float = math.inf) -> torch.Tensor:
    """Round half to even and clip, gradient 1 inside the clip range."""
    clipped = torch.clamp(x, lo, hi)
    return _ste(torch.round(clipped), clipped)


# --- the network ---------------------------------------------------------------------------

class QKSpikeNet(nn.Module):
    """Parameters of the spiking transformer and its two forward numerics.

    ``forward(x, numerics="float"|"integer")`` takes uint8 features as a float tensor of
    shape (batch, frames, n_mels) and returns logits in real units (for the loss) plus, in
    integer mode, the integer logits.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c, e = config.channels, config.hidden
        if c % config.heads:
            raise ValueError(f"channels ({c}) must split evenly into {config.heads} heads")

        def linear(fan_in, fan_out):
            bound = 1.0 / math.sqrt(fan_in)
            return (nn.Parameter(torch.empty(fan_in, fan_out).uniform_(-bound, bound)),
                    nn.Parameter(torch.zeros(fan_out)))

        self.enc_w, self.enc_b = linear(config.kernel * config.n_mels, c)
        self.wqk, self.bqk, self.wo, self.bo = nn.ParameterList(), nn.ParameterList(), \
            nn.ParameterList(), nn.ParameterList()
        self.w1, self.b1, self.w2, self.b2 = nn.ParameterList(), nn.ParameterList(), \
            nn.ParameterList(), nn.ParameterList()
        for _ in range(config.blocks):
            for weights, biases, (fi, fo) in ((self.wqk, self.bqk, (c, 2 * c)),
                                              (self.wo, self.bo, (c, c)),
                                              (self.w1, self.b1, (c, e)),
                                              (self.w2, self.b2, (e, c))):
                w, b = linear(fi, fo)
                weights.append(w)
                biases.append(b)
        self.head_w, self.head_b = linear(c, len(config.classes))
        # Thresholds in log space: always positive.
        self.log_theta = nn.ParameterDict()
        for block in range(config.blocks):
            for group, size in zip(GROUPS, (c, 2 * c, c, e)):
                self.log_theta[f"b{block}_{group}"] = nn.Parameter(torch.full((size,), -1.0))
        self.log_theta["head"] = nn.Parameter(torch.full((c,), -1.0))
        # Power-of-two quantization grid, fixed by `calibrate` before integer training.
        self.register_buffer("exponents", torch.zeros(0, dtype=torch.int64))
        self.residual_fraction_bits: Optional[int] = None

    # -- quantization grid -------------------------------------------------------------------

    def weight_names(self) -> list[str]:
        names = ["enc"]
        for block in range(self.config.blocks):
            names += [f"b{block}_{layer}" for layer in ("qk", "o", "fc1", "fc2")]
        return names + ["head"]

    def weight(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name == "enc":
            return self.enc_w, self.enc_b
        if name == "head":
            return self.head_w, self.head_b
        block, layer = name[1:].split("_")
        pairs = {"qk": (self.wqk, self.bqk), "o": (self.wo, self.bo),
                 "fc1": (self.w1, self.b1), "fc2": (self.w2, self.b2)}[layer]
        return pairs[0][int(block)], pairs[1][int(block)]

    @torch.no_grad()
    def calibrate(self, features: torch.Tensor) -> dict:
        """Fix the integer grid from the float network: per-layer weight exponents ``e``
        (``|W| * 2**e <= 127``) and the residual stream's fraction bits ``F``.

        ``F`` keeps the largest residual seen on ``features`` (times 2 for headroom) inside
        ``residual_bits``, and is at most every residual layer's ``e`` so that rescale shifts
        are right shifts.
        """
        exponents = {}
        for name in self.weight_names():
            w, _ = self.weight(name)
            exponents[name] = int(math.floor(math.log2(contract.WEIGHT_MAX /
                                                       float(w.abs().max().clamp_min(1e-8)))))
        peak = float(self._run(features, "float", record_residual=True)["residual_peak"])
        limit = (1 << (self.config.residual_bits - 1)) - 1
        fraction = int(math.floor(math.log2(limit / (2.0 * max(peak, 1e-6)))))
        feeds = [exponents["enc"] + 8] + [exponents[f"b{b}_{layer}"]
                                          for b in range(self.config.blocks)
                                          for layer in ("o", "fc2")]
        fraction = min(fraction, *feeds)
        self.exponents = torch.tensor([exponents[n] for n in self.weight_names()])
        self.residual_fraction_bits = fraction
        return {"exponents": exponents, "residual_fraction_bits": fraction,
                "residual_peak": peak}

    def integer_params(self) -> dict[str, torch.Tensor | int]:
        """The integers the hardware holds, as float tensors with straight-through gradients."""
        if self.residual_fraction_bits is None:
            raise RuntimeError("call calibrate() before integer numerics")
        cfg = self.config
        exps = dict(zip(self.weight_names(), (int(e) for e in self.exponents)))
        frac = self.residual_fraction_bits
        p: dict[str, torch.Tensor | int] = {}
        for name in self.weight_names():
            w, b = self.weight(name)
            e = exps[name]
            # Encoder inputs are x/256, so its accumulator unit is 2**-(8 + e); the head's
            # bias carries the 1/steps of the float head (logits = W n / steps + b).
            bias_unit = e + 8 if name == "enc" else e
            bias_scale = cfg.steps if name == "head" else 1
            p[f"{name}.w"] = _round(w * (1 << e) if e >= 0 else w / (1 << -e),
                                    -contract.WEIGHT_MAX, contract.WEIGHT_MAX)
            p[f"{name}.b"] = _round(b * bias_scale * 2.0 ** bias_unit)
            if name == "enc":
                p["enc.shift"] = e + 8 - frac
            elif name.endswith(("_o", "_fc2")):
                p[f"{name}.shift"] = e - frac
        for key, log_theta in self.log_theta.items():
            unit = frac if key.endswith(("attn_in", "mlp_in")) or key == "head" else \
                exps[key.replace("hidden", "fc1")] if key.endswith("hidden") else exps[key]
            p[f"{key}.theta"] = _round(torch.exp(log_theta) * 2.0 ** unit, 1,
                                       (1 << (cfg.state_bits - 1)) - 1)
        return p

    # -- forward -----------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, numerics: str = "float") -> dict[str, torch.Tensor]:
        return self._run(x, numerics)

    def _float_params(self) -> dict[str, torch.Tensor]:
        p = {}
        for name in self.weight_names():
            p[f"{name}.w"], p[f"{name}.b"] = self.weight(name)
        for key, log_theta in self.log_theta.items():
            p[f"{key}.theta"] = torch.exp(log_theta)
        return p

    def _run(self, x, numerics, record_residual=False):
        if numerics == "float":
            return _forward(self.config, self._float_params(), x / 256.0, integer=False,
                            record_residual=record_residual)
        if numerics == "integer":
            out = _forward(self.config, self.integer_params(), x, integer=True)
            head_exp = int(self.exponents[-1])
            out["logits"] = out["logits_int"] * 2.0 ** -head_exp / self.config.steps
            return out
        raise ValueError(f"numerics must be 'float' or 'integer', not {numerics!r}")


def dense_activity(config: ModelConfig) -> int:
    """Synaptic operations of one utterance's spike-driven layers (every layer after the
    encoder) if every input spiked once per step: the unit of ``out["activity"]``."""
    return config.steps * sum(lay.c_in * lay.c_out for lay in topology.step_layers(config)
                              if lay.source is not topology.Source.FEATURES)


def integer_forward(config: ModelConfig, params: dict, features: torch.Tensor) -> dict:
    """The integer network from a model file's integers: ``params`` as exported."""
    return _forward(config, params, features, integer=True)


def _encoder(config: ModelConfig, w: torch.Tensor, b: torch.Tensor, x: torch.Tensor):
    """Causal strided conv: step t uses frames s*t + s - 1 - j for j = 0..K-1 (zeros before 0).

    ``w`` has shape (K * n_mels, C), row ``j * n_mels + f`` for tap ``j`` (frame lag) and band
    ``f``. Returns (batch, steps, C).
    """
    k, s = config.kernel, config.stride
    padded = torch.nn.functional.pad(x, (0, 0, k - 1, 0))          # (B, T + k - 1, F)
    windows = padded.unfold(1, k, 1)                              # (B, T, F, k): frames t-k+1..t
    windows = windows[:, s - 1::s].flip(-1)                       # lag j = 0 first
    windows = windows.transpose(-1, -2).reshape(x.shape[0], -1, k * config.n_mels)
    return windows @ w + b


def _forward(config: ModelConfig, p: dict, x: torch.Tensor, *, integer: bool,
             record_residual: bool = False) -> dict[str, torch.Tensor]:
    """Run the network over all time steps. In integer mode every value is an integer."""
    batch = x.shape[0]
    c, heads = config.channels, config.heads
    steps = config.steps

    # Once per forward, not per neuron step: a per-head shift is a tensor built from the config.
    leak_shifts = {kind: _leak_shift(config, kind, x) for kind in config.neurons}

    def neuron(group, v, u, theta):
        n = config.neurons[group]
        shift = leak_shifts[group]
        if integer:
            leak = _floor_shift(v, shift) if shift is not None else 0.0
        else:
            leak = v * 2.0 ** -shift if shift is not None else 0.0
        h = v - leak + u
        s = _spike(h, theta, n.levels, exact_comparisons=integer)
        v = _RESET[contract.ResetMode(n.reset)](h, s, theta)
        if integer:
            v = _saturate(v, config.state_bits)
        return s, v

    def residual(r, acc, shift):
        if not integer:
            return acc if r is None else r + acc
        total = _rescale(acc, shift) if r is None else r + _rescale(acc, shift)
        return _saturate(total, config.residual_bits)

    enc = _encoder(config, p["enc.w"], p["enc.b"], x)
    plan = topology.step_layers(config)
    zeros = {}

    def state(group):
        size = topology.group_size(config, group)
        if size not in zeros:
            zeros[size] = x.new_zeros(batch, size)
        return zeros[size]

    v = {}
    counts = x.new_zeros(batch, c)
    events = {}
    # Spike traffic into the engine, weighted by the outputs each spike feeds: what the
    # firing-rate penalty trains down (differentiable through the spikes' surrogate).
    activity = x.new_zeros(batch)
    peak = x.new_zeros(())
    for t in range(steps):
        buffer = r = None      # the spikes the last layer wrote; the residual stream
        for lay in plan:
            name = lay.name
            if lay.source is topology.Source.FEATURES:
                factors, acc = None, enc[:, t]
            else:
                factors = buffer
                if lay.source is topology.Source.ATTENTION:
                    q, k = buffer[:, :c], buffer[:, c:]
                    head_sum = q.reshape(batch, heads, -1).sum(-1)
                    # Token mask: exact comparison, rectangle surrogate of width 1 around
                    # theta_attn.
                    mask_exact = (head_sum >= config.theta_attn).to(q.dtype)
                    mask = _ste(mask_exact,
                                torch.clamp(head_sum - config.theta_attn + 1.0, 0.0, 1.0))
                    factors = k * mask.repeat_interleave(c // heads, dim=1)
                acc = factors @ p[f"{name}.w"] + p[f"{name}.b"]
                events[name] = events.get(name, 0) + (factors != 0).sum(-1)
                activity = activity + factors.sum(-1) * lay.c_out
            if lay.residual:
                r = residual(r if lay.post is topology.Post.RESIDUAL_ADD else None, acc,
                             p.get(f"{name}.shift", 0))
                acc = r
                if record_residual and lay.kind.ends_block:
                    peak = torch.maximum(peak, r.abs().max())
            group = lay.output_group
            buffer, v[group] = neuron(topology.group_kind(group), v.get(group, state(group)),
                                      acc, p[f"{group}.theta"])
            if lay.counts_spikes:
                counts = counts + buffer
                if integer:
                    counts = torch.clamp(counts, max=contract.COUNT_MAX)
    out = {"counts": counts, "events": events, "residual_peak": peak,
           "activity": activity / dense_activity(config)}
    if integer:
        out["logits_int"] = counts @ p["head.w"] + p["head.b"]
    else:
        out["logits"] = counts / steps @ p["head.w"] + p["head.b"]
    return out
