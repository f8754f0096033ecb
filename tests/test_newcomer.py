"""A newcomer's LSTM, written from scratch as a user would (not from a seeded defect): no
PackedSequence support and no projections, neither declared, and one slip, the caller's
(h0, c0) ignored. The report must read as three root causes, each with the likely cause
that names it: the two missing features by their condition, the slip as the initial
state. (This LSTM, tried after the hint rules were frozen, is what the rules for errors
under a feature and for the initial state were written from: tuning data since.)"""

import math

import torch
from hypothesis import settings
from torch import nn

from lstm_conformance.profiles import profile_settings
from lstm_conformance.results import Collector
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id


class NewcomerLSTM(nn.Module):
    """A from-scratch LSTM, single direction and layers stacked, no projections."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.proj_size = bidirectional, proj_size
        D = 2 if bidirectional else 1
        k = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else hidden_size * D
                def p(*shape):
                    return nn.Parameter(torch.empty(*shape, dtype=dtype).uniform_(-k, k))
                setattr(self, "weight_ih" + sfx, p(4 * hidden_size, in_size))
                setattr(self, "weight_hh" + sfx, p(4 * hidden_size, hidden_size))
                if bias:
                    setattr(self, "bias_ih" + sfx, p(4 * hidden_size))
                    setattr(self, "bias_hh" + sfx, p(4 * hidden_size))

    def _cell(self, x, h, c, sfx):
        gates = x @ getattr(self, "weight_ih" + sfx).T + h @ getattr(self, "weight_hh" + sfx).T
        if self.bias:
            gates = gates + getattr(self, "bias_ih" + sfx) + getattr(self, "bias_hh" + sfx)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def forward(self, x, hx=None):
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        T, N, _ = x.shape
        D = 2 if self.bidirectional else 1
        # the slip: the initial state is always zeros (hx is accepted and ignored)
        h0 = x.new_zeros(self.num_layers * D, N, self.hidden_size)
        c0 = x.new_zeros(self.num_layers * D, N, self.hidden_size)
        hs, cs = [], []
        inp = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                h, c = h0[layer * D + d], c0[layer * D + d]
                steps = range(T - 1, -1, -1) if d else range(T)
                out = [None] * T
                for t in steps:
                    h, c = self._cell(inp[t], h, c, sfx)
                    out[t] = h
                outs.append(torch.stack(out))
                hs.append(h)
                cs.append(c)
            inp = torch.cat(outs, dim=-1)
            if self.training and self.dropout and layer < self.num_layers - 1:
                inp = nn.functional.dropout(inp, self.dropout)
        h_n, c_n = torch.stack(hs), torch.stack(cs)
        out = inp
        if unbatched:
            return out.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, (h_n, c_n)


def test_a_newcomers_lstm_reads_as_its_three_causes():
    collector = Collector("default", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("newcomer")
    for invariant_id in ("matches-oracle", "state-continuation", "output-shapes"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            outcome = run_check(Subject("newcomer", NewcomerLSTM), by_id(invariant_id),
                                settings(profile_settings("default"), database=None), 0)
        collector.record("newcomer", invariant_id, outcome.as_dict())
    causes = collector.document()["implementations"]["newcomer"]["root_causes"]
    likely = {c["condition"]: (c["likely_cause"] or {}).get("id") for c in causes}
    assert likely.get("when proj_size > 0 (LSTM with projections)") == "unsupported-feature"
    assert likely.get("when PackedSequence input") == "unsupported-feature"
    assert likely.get("when an explicit (h0, c0)") == "initial-state", likely
    packed = next(c for c in causes if c["condition"] == "when PackedSequence input")
    assert 'frozenset({"packed"})' in packed["likely_cause"]["text"]
