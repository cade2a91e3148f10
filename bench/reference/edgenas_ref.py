#!/usr/bin/env python3
"""PyTorch reference of edgenas' networks and training steps, for speed
comparisons with the Rust (burn) implementation.

It mirrors, op for op and shape for shape:

* models/src/ops.rs       the candidate ops, ReLU-Conv-BN, FactorizedReduce
* models/src/network.rs   NetworkConfig.cell_layout, the search network S
                          (mixed edges, darts / idarts / xdarts mixing weights)
                          and the evaluation network E (genotype cells,
                          auxiliary head, drop-path)
* models/src/space.rs     the op order of the DARTS space (V0 / V1)
* models/src/genotype.rs  genotype.json (schema_version 1) and its validation
* search/src/icdarts.rs   search_step: the alpha step then the w_S + w_E step
* search/src/retrain.rs   one retraining step
* bench/harness/src/fixtures.rs
                          the search-step bench: fixed random batches, lr 0.05,
                          warm-up then timed steps

Usage (see README.md):

    python edgenas_ref.py --what search-step --channels 8 --layers 5 --nodes 4 \
        --batch 32 --image-size 28 --in-channels 1 --classes 10 --threads 2 \
        --warmup 1 --steps 5

Prints one JSON object on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent

# models/src/space.rs, OpKind::ALL: the canonical op order (the α columns).
OPS_ALL = [
    "zero",
    "max_pool_3x3",
    "avg_pool_3x3",
    "identity",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]


def op_space(zero: str) -> list[str]:
    """OpSpace::darts: V0 keeps `zero` as column 0, V1 (default) drops it."""
    return list(OPS_ALL) if zero == "v0" else [o for o in OPS_ALL if o != "zero"]


def node_first_edge(node: int) -> int:
    return node * (node + 3) // 2


def edge_count(n_nodes: int) -> int:
    return node_first_edge(n_nodes)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Genotype (models/src/genotype.rs)


def inputs_per_node(relaxation: str, node: int) -> int:
    return node + 2 if relaxation == "xdarts" else 2


def validate_genotype(g: dict) -> None:
    """Genotype::validate, with the same rules and order of checks."""
    if g.get("schema_version") != 1:
        raise ValueError(f"unsupported genotype schema_version {g.get('schema_version')} (expected 1)")
    relaxation = g["relaxation"]
    if relaxation not in ("darts", "idarts", "xdarts"):
        raise ValueError(f"unknown relaxation {relaxation!r}")
    n = g["n_nodes"]
    if n == 0:
        raise ValueError("a genotype needs at least one node")
    for cell in ("normal", "reduce"):
        cg = g[cell]
        for e in cg["edges"]:
            if e["op"] not in OPS_ALL:
                raise ValueError(f"unknown operation `{e['op']}`")
            if e["node"] >= n:
                raise ValueError(f"{cell} cell: node {e['node']} is outside 0..{n}")
            if e["predecessor"] >= e["node"] + 2:
                raise ValueError(
                    f"{cell} cell: node {e['node']} reads predecessor {e['predecessor']}, "
                    f"but only 0..{e['node'] + 2} exist"
                )
            if e["op"] == "zero":
                raise ValueError(f"{cell} cell: node {e['node']} uses the zero op, which is never kept")
        for node in range(n):
            found = sum(1 for e in cg["edges"] if e["node"] == node)
            expected = inputs_per_node(relaxation, node)
            if found != expected:
                raise ValueError(
                    f"{cell} cell: node {node} has {found} inputs, {relaxation} cells keep {expected}"
                )
        for j in cg["concat"]:
            if j >= n:
                raise ValueError(f"{cell} cell: concat lists node {j}, outside 0..{n}")


def load_genotype(path: Path) -> dict:
    g = json.loads(path.read_text())
    validate_genotype(g)
    return g


# ---------------------------------------------------------------------------
# NetworkConfig and cell_layout (models/src/network.rs)


@dataclass
class NetworkConfig:
    in_channels: int
    image_size: int
    num_classes: int
    channels: int = 8
    layers: int = 5
    nodes: int = 4
    stem_multiplier: int = 3

    def is_reduction(self, index: int) -> bool:
        return self.layers >= 3 and index in (self.layers // 3, 2 * self.layers // 3)

    def aux_position(self) -> int:
        return 2 * self.layers // 3

    def cell_layout(self) -> list[dict]:
        c_stem = self.stem_multiplier * self.channels
        c_pp, c_p, c = c_stem, c_stem, self.channels
        h_pp, h_p = self.image_size, self.image_size
        reduction_prev = False
        out = []
        for index in range(self.layers):
            reduction = self.is_reduction(index)
            if reduction:
                c *= 2
            out.append(
                dict(
                    index=index,
                    reduction=reduction,
                    reduction_prev=reduction_prev,
                    c_prev_prev=c_pp,
                    c_prev=c_p,
                    c=c,
                    h_prev_prev=h_pp,
                    h_prev=h_p,
                )
            )
            h_out = -(-h_p // 2) if reduction else h_p
            c_pp, c_p = c_p, self.nodes * c
            h_pp, h_p = h_p, h_out
            reduction_prev = reduction
        return out


# ---------------------------------------------------------------------------
# Ops (models/src/ops.rs)


def batch_norm(channels: int, affine: bool) -> nn.BatchNorm2d:
    # burn's BatchNormConfig defaults: epsilon 1e-5, momentum 0.1; running
    # statistics tracked in both forms. The search network's non-affine BN has
    # frozen γ=1, β=0 in burn; PyTorch's affine=False is the same function.
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=affine)


def conv(c_in, c_out, kernel, stride, padding, dilation=1, groups=1) -> nn.Conv2d:
    return nn.Conv2d(
        c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=False
    )


class ReluConvBn(nn.Module):
    def __init__(self, c_in, c_out, affine):
        super().__init__()
        self.conv = conv(c_in, c_out, 1, 1, 0)
        self.bn = batch_norm(c_out, affine)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out, affine):
        super().__init__()
        assert c_out % 2 == 0, f"FactorizedReduce needs an even channel count, got {c_out}"
        self.conv_a = conv(c_in, c_out // 2, 1, 2, 0)
        self.conv_b = conv(c_in, c_out // 2, 1, 2, 0)
        self.bn = batch_norm(c_out, affine)

    def forward(self, x):
        x = F.relu(x)
        # x[1:, 1:] padded back to H×W with zeros at the end (ops.rs), so odd
        # sizes give ceil(H/2) on both branches.
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class DwPwBn(nn.Module):
    """Depthwise k×k (optionally dilated), pointwise 1×1, BN. Takes relu(x)."""

    def __init__(self, c_in, c_out, kernel, stride, dilation, affine):
        super().__init__()
        padding = dilation * (kernel - 1) // 2
        self.depthwise = conv(c_in, c_in, kernel, stride, padding, dilation, groups=c_in)
        self.pointwise = conv(c_in, c_out, 1, 1, 0)
        self.bn = batch_norm(c_out, affine)

    def forward(self, relu_x):
        return self.bn(self.pointwise(self.depthwise(relu_x)))


class SepConv(nn.Module):
    def __init__(self, c, kernel, stride, affine):
        super().__init__()
        self.first = DwPwBn(c, c, kernel, stride, 1, affine)
        self.second = DwPwBn(c, c, kernel, 1, 1, affine)

    def forward(self, relu_x):
        return self.second(F.relu(self.first(relu_x)))


class Op(nn.Module):
    """One candidate op (ops.rs `Op`); `forward_shared(x, relu_x)` lets a
    mixed edge compute the ReLU of its convolutions once."""

    def __init__(self, kind: str, c: int, stride: int, search: bool):
        super().__init__()
        affine = not search
        self.kind = kind
        self.stride = stride
        self.wants_relu = kind in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
        self.is_identity = kind == "identity" and stride == 1
        self.pool_bn = None
        self.inner = None
        if kind == "zero":
            pass
        elif kind == "max_pool_3x3":
            self.inner = nn.MaxPool2d(3, stride=stride, padding=1)
            self.pool_bn = batch_norm(c, False) if search else None
        elif kind == "avg_pool_3x3":
            self.inner = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
            self.pool_bn = batch_norm(c, False) if search else None
        elif kind == "identity":
            self.inner = None if stride == 1 else FactorizedReduce(c, c, affine)
        elif kind == "sep_conv_3x3":
            self.inner = SepConv(c, 3, stride, affine)
        elif kind == "sep_conv_5x5":
            self.inner = SepConv(c, 5, stride, affine)
        elif kind == "dil_conv_3x3":
            self.inner = DwPwBn(c, c, 3, stride, 2, affine)
        elif kind == "dil_conv_5x5":
            self.inner = DwPwBn(c, c, 5, stride, 2, affine)
        else:
            raise ValueError(f"unknown operation `{kind}`")

    def forward(self, x):
        return self.forward_shared(x, F.relu(x) if self.wants_relu else x)

    def forward_shared(self, x, relu_x):
        if self.kind == "zero":
            n, c, h, w = x.shape
            s = self.stride
            return x.new_zeros((n, c, -(-h // s), -(-w // s)))
        if self.wants_relu:
            return self.inner(relu_x)
        if self.is_identity:
            return x
        y = self.inner(x)  # pool, or FactorizedReduce (identity at stride 2)
        return self.pool_bn(y) if self.pool_bn is not None else y


class Preprocess(nn.Module):
    def __init__(self, c_in, c_out, reduce, affine):
        super().__init__()
        self.inner = FactorizedReduce(c_in, c_out, affine) if reduce else ReluConvBn(c_in, c_out, affine)

    def forward(self, x):
        return self.inner(x)


class Stem(nn.Module):
    def __init__(self, net: NetworkConfig):
        super().__init__()
        c_stem = net.stem_multiplier * net.channels
        self.conv = conv(net.in_channels, c_stem, 3, 1, 1)
        self.bn = batch_norm(c_stem, True)  # affine in both networks

    def forward(self, x):
        return self.bn(self.conv(x))


def global_avg_pool(x):
    return x.mean(dim=(2, 3))


# ---------------------------------------------------------------------------
# Search network S


def mixing_weights(alpha: torch.Tensor, relaxation: str, n_nodes: int) -> torch.Tensor:
    if relaxation == "darts":
        return F.softmax(alpha, dim=1)
    ops = alpha.shape[1]
    rows = []
    for node in range(n_nodes):
        first, k = node_first_edge(node), node + 2
        block = alpha[first : first + k]
        rows.append(F.softmax(block.reshape(1, k * ops), dim=1).reshape(k, ops))
    return torch.cat(rows, dim=0)


class MixedOp(nn.Module):
    def __init__(self, space, c, stride):
        super().__init__()
        ops, columns = [], []
        for column, kind in enumerate(space):
            if kind == "zero":  # Σ w·0 = 0: only its α in the softmax counts
                continue
            ops.append(Op(kind, c, stride, search=True))
            columns.append(column)
        self.ops = nn.ModuleList(ops)
        self.columns = columns
        self.any_relu = any(op.wants_relu for op in ops)

    def forward(self, x, weights_row):
        relu_x = F.relu(x) if self.any_relu else x
        total = None
        for op, column in zip(self.ops, self.columns):
            term = op.forward_shared(x, relu_x) * weights_row[column]
            total = term if total is None else total + term
        return total


class SearchCell(nn.Module):
    def __init__(self, shape: dict, nodes: int, space: list[str]):
        super().__init__()
        self.reduction = shape["reduction"]
        self.nodes = nodes
        self.pre0 = Preprocess(shape["c_prev_prev"], shape["c"], shape["reduction_prev"], affine=False)
        self.pre1 = ReluConvBn(shape["c_prev"], shape["c"], affine=False)
        edges = []
        for node in range(nodes):
            for pred in range(node + 2):
                stride = 2 if self.reduction and pred < 2 else 1
                edges.append(MixedOp(space, shape["c"], stride))
        self.edges = nn.ModuleList(edges)

    def forward(self, s0, s1, weights):
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(self.nodes):
            first = node_first_edge(node)
            total = None
            for pred in range(node + 2):
                e = first + pred
                y = self.edges[e](states[pred], weights[e])
                total = y if total is None else total + y
            states.append(total)
        return torch.cat(states[2:], dim=1)


class SearchNetwork(nn.Module):
    def __init__(self, net: NetworkConfig, space: list[str], relaxation: str = "darts"):
        super().__init__()
        layout = net.cell_layout()
        self.relaxation = relaxation
        self.nodes = net.nodes
        self.stem = Stem(net)
        self.cells = nn.ModuleList(SearchCell(s, net.nodes, space) for s in layout)
        c_last = net.nodes * (layout[-1]["c"] if layout else net.channels)
        self.classifier = nn.Linear(c_last, net.num_classes)

    def forward(self, x, alpha_normal, alpha_reduce):
        w_normal = mixing_weights(alpha_normal, self.relaxation, self.nodes)
        w_reduce = mixing_weights(alpha_reduce, self.relaxation, self.nodes)
        stem = self.stem(x)
        s0 = s1 = stem
        for cell in self.cells:
            out = cell(s0, s1, w_reduce if cell.reduction else w_normal)
            s0, s1 = s1, out
        return self.classifier(global_avg_pool(s1))


# ---------------------------------------------------------------------------
# Evaluation network E


def drop_path(x, p):
    keep = 1.0 - p
    mask = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), keep, dtype=x.dtype, device=x.device))
    return x * (mask / keep)


class EvalCell(nn.Module):
    def __init__(self, shape: dict, nodes: int, genotype_cell: dict):
        super().__init__()
        ops, wiring = [], []
        for e in genotype_cell["edges"]:
            stride = 2 if shape["reduction"] and e["predecessor"] < 2 else 1
            ops.append(Op(e["op"], shape["c"], stride, search=False))
            wiring.append((e["node"], e["predecessor"]))
        self.ops = nn.ModuleList(ops)
        self.wiring = wiring
        self.concat = list(genotype_cell["concat"])
        self.nodes = nodes
        self.pre0 = Preprocess(shape["c_prev_prev"], shape["c"], shape["reduction_prev"], affine=True)
        self.pre1 = ReluConvBn(shape["c_prev"], shape["c"], affine=True)

    def forward(self, s0, s1, drop_prob: float):
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(self.nodes):
            total = None
            for op, (n, pred) in zip(self.ops, self.wiring):
                if n != node:
                    continue
                y = op(states[pred])
                if drop_prob > 0.0 and not op.is_identity:
                    y = drop_path(y, drop_prob)
                total = y if total is None else total + y
            states.append(total)
        return torch.cat([states[j + 2] for j in self.concat], dim=1)


class AuxHead(nn.Module):
    """ReLU, k×k avg-pool stride 3, 1×1 conv 128, BN, ReLU, k2×k2 conv 768, BN,
    ReLU, global average pool, linear; k = min(size, 5), k2 = min(pooled, 2)."""

    def __init__(self, c_in, size, num_classes):
        super().__init__()
        k = min(size, 5)
        pooled = (size - k) // 3 + 1
        k2 = min(pooled, 2)
        self.pool = nn.AvgPool2d(k, stride=3, padding=0, count_include_pad=False)
        self.conv1 = conv(c_in, 128, 1, 1, 0)
        self.bn1 = batch_norm(128, True)
        self.conv2 = conv(128, 768, k2, 1, 0)
        self.bn2 = batch_norm(768, True)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(x))
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.classifier(global_avg_pool(x))


class EvalNetwork(nn.Module):
    def __init__(self, net: NetworkConfig, genotype: dict, auxiliary: bool = False):
        super().__init__()
        layout = net.cell_layout()

        def cell_of(shape):
            return genotype["reduce"] if shape["reduction"] else genotype["normal"]

        self.stem = Stem(net)
        self.cells = nn.ModuleList(EvalCell(s, net.nodes, cell_of(s)) for s in layout)
        self.aux_position = net.aux_position()
        self.aux = None
        if auxiliary and net.layers >= 3:
            shape = layout[self.aux_position]
            size = -(-shape["h_prev"] // 2) if shape["reduction"] else shape["h_prev"]
            self.aux = AuxHead(len(cell_of(shape)["concat"]) * shape["c"], size, net.num_classes)
        c_last = len(cell_of(layout[-1])["concat"]) * layout[-1]["c"] if layout else net.channels
        self.classifier = nn.Linear(c_last, net.num_classes)

    def forward(self, x, drop_prob: float = 0.0, with_aux: bool = False):
        stem = self.stem(x)
        s0 = s1 = stem
        aux_logits = None
        for i, cell in enumerate(self.cells):
            out = cell(s0, s1, drop_prob)
            s0, s1 = s1, out
            if i == self.aux_position and with_aux and self.aux is not None:
                aux_logits = self.aux(s1)
        return self.classifier(global_avg_pool(s1)), aux_logits

    def logits(self, x):
        return self.forward(x, 0.0, False)[0]


# ---------------------------------------------------------------------------
# Training pieces (search/src/train.rs, icdarts.rs, retrain.rs)


def cross_entropy(logits, labels):
    return F.cross_entropy(logits, labels)


def distillation(student, teacher, temperature):
    """KD(S‖E) = T²/N · Σ_i KL(p_E,i ‖ q_S,i), teacher detached."""
    n = student.shape[0]
    teacher = teacher.detach() / temperature
    p = F.softmax(teacher, dim=1)
    log_p = F.log_softmax(teacher, dim=1)
    log_q = F.log_softmax(student / temperature, dim=1)
    return (p * (log_p - log_q)).sum() * (temperature * temperature / n)


def clip_global_norm(params, max_norm):
    # PyTorch's clip_grad_norm_ scales by max_norm / (norm + 1e-6) when the
    # norm exceeds max_norm: the formula train.rs reproduces.
    return torch.nn.utils.clip_grad_norm_(params, max_norm)


@dataclass
class SearchConfig:
    """search/src/icdarts.rs SearchConfig::default (the fields a step uses)."""

    lr_weights: float = 0.08
    momentum: float = 0.9
    weight_decay: float = 3e-4
    lr_alpha: float = 3e-4
    alpha_beta1: float = 0.5
    alpha_beta2: float = 0.999
    grad_clip: float = 5.0
    kd_lambda: float = 1.0
    kd_temperature: float = 2.0


# burn's MomentumConfig defaults dampening to 0.1, and the Rust code only sets
# the momentum; burn's Adam epsilon defaults to 1e-5 (its formula equals
# PyTorch's m̂ / (sqrt(v̂) + eps)).
BURN_MOMENTUM_DAMPENING = 0.1
BURN_ADAM_EPS = 1e-5


def sgd(params, lr, momentum, weight_decay):
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, dampening=BURN_MOMENTUM_DAMPENING, weight_decay=weight_decay
    )


def set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


def init_alphas(edges, ops, gen):
    """α ~ 1e-3·N(0, 1) (values differ from the Rust StdRng stream; only
    E's genotype depends on them, and that is read from a file here)."""
    a_n = (1e-3 * torch.randn(edges, ops, generator=gen)).requires_grad_(True)
    a_r = (1e-3 * torch.randn(edges, ops, generator=gen)).requires_grad_(True)
    return a_n, a_r


def search_step(cfg: SearchConfig, lr, bt, bv, net, alphas, opt_w, opt_alpha, eval_state, gradients="needed"):
    """icdarts.rs search_step_with: α step on the val batch, then one backward
    of L_S + L_E on the train batch and the w_S, w_E updates.

    gradients="needed" (StepGradients::Needed, what search_step runs): the α
    step differentiates w.r.t. α only and the weight step sees α as a
    constant. "all" (StepGradients::All): both backward passes compute every
    gradient and the unused ones are dropped."""
    needed = gradients == "needed"
    a_n, a_r = alphas
    # (3.9) α ← Adam on L^S_val + λ·KD_val(S‖E).
    logits_s = net(bv[0], a_n, a_r)
    loss_a = cross_entropy(logits_s, bv[1])
    if eval_state is not None:
        e, _ = eval_state
        # Teacher in inference mode: no graph, running statistics untouched.
        e.eval()
        with torch.no_grad():
            teacher = e.logits(bv[0])
        e.train()
        loss_a = loss_a + distillation(logits_s, teacher, cfg.kd_temperature) * cfg.kd_lambda
    loss_alpha = loss_a.item()
    if needed:
        # Rust runs this half on a no_grad clone of S: no weight gradients.
        a_n.grad, a_r.grad = torch.autograd.grad(loss_a, [a_n, a_r])
    else:
        # Every tracked parameter's gradient (w_S included, then unused).
        loss_a.backward()
    opt_alpha.step()
    opt_alpha.zero_grad(set_to_none=True)
    net.zero_grad(set_to_none=True)

    # (3.10) + (3.11): E's training-mode logits serve as detached teacher for
    # S and as E's own loss; one backward of the sum.
    # Rust runs this half on a no_grad clone of α: no α gradient.
    logits_s = net(bt[0], a_n.detach(), a_r.detach()) if needed else net(bt[0], a_n, a_r)
    loss_s = cross_entropy(logits_s, bt[1])
    loss_eval = kd_value = None
    if eval_state is not None:
        e, opt_e = eval_state
        logits_e = e.logits(bt[0])
        kd = distillation(logits_s, logits_e, cfg.kd_temperature)
        kd_value = kd.item()
        loss_s = loss_s + kd * cfg.kd_lambda
        loss_e = cross_entropy(logits_e, bt[1])
        loss_eval = loss_e.item()
        total = loss_s + loss_e
    else:
        total = loss_s
    loss_search = loss_s.item()
    total.backward()
    set_lr(opt_w, lr)
    clip_global_norm(net.parameters(), cfg.grad_clip)
    opt_w.step()
    opt_w.zero_grad(set_to_none=True)
    # With gradients="all", α received a gradient from this backward too; it
    # is dropped.
    opt_alpha.zero_grad(set_to_none=True)
    if eval_state is not None:
        e, opt_e = eval_state
        set_lr(opt_e, lr)
        clip_global_norm(e.parameters(), cfg.grad_clip)
        opt_e.step()
        opt_e.zero_grad(set_to_none=True)
    return dict(loss_alpha=loss_alpha, loss_search=loss_search, loss_eval=loss_eval, kd=kd_value)


# ---------------------------------------------------------------------------
# Benchmark driver


def random_batch(batch, in_channels, size, classes, seed, gen):
    """fixtures.rs random_batch: N(0,1) images, labels (i·7 + seed) mod classes."""
    images = torch.randn(batch, in_channels, size, size, generator=gen)
    labels = torch.tensor([(i * 7 + seed) % classes for i in range(batch)], dtype=torch.long)
    return images, labels


def count_params(module_or_tensors, include_frozen_bn=False):
    if isinstance(module_or_tensors, nn.Module):
        n = sum(p.numel() for p in module_or_tensors.parameters())
        if include_frozen_bn:
            # burn's num_params counts the frozen γ, β of non-affine BN too.
            n += sum(
                2 * m.num_features
                for m in module_or_tensors.modules()
                if isinstance(m, nn.BatchNorm2d) and not m.affine
            )
        return n
    return sum(t.numel() for t in module_or_tensors)


def cpu_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def time_steps(step_fn, warmup, steps, on_timed_start=None):
    times = []
    for i in range(warmup + steps):
        if i == warmup and on_timed_start is not None:
            on_timed_start()
        started = time.perf_counter()
        step_fn()
        elapsed = time.perf_counter() - started
        if i >= warmup:
            times.append(elapsed)
        log(f"{'warm-up' if i < warmup else 'step'} {i + 1}/{warmup + steps}: {elapsed * 1e3:.1f} ms")
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", choices=["search-step", "retrain-step", "infer"], required=True)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument(
        "--genotype",
        type=Path,
        default=None,
        help="genotype.json of E (retrain-step, infer; default default_genotype.json) "
        "or of the search step's E (default search_eval_genotype.json, what the Rust bench builds)",
    )
    ap.add_argument("--relaxation", choices=["darts", "idarts", "xdarts"], default="darts",
                    help="search network's mixing weights (search-step)")
    ap.add_argument("--zero", choices=["v0", "v1"], default="v1", help="zero-op configuration (search-step)")
    ap.add_argument("--algo", choices=["icdarts", "darts"], default="icdarts",
                    help="search-step: icdarts (with E) or first-order darts (no E)")
    ap.add_argument("--gradients", choices=["needed", "all"], default="needed",
                    help="search-step: which gradients each backward pass computes, as icdarts.rs "
                    "StepGradients: needed (default, what search_step runs: the α step differentiates "
                    "w.r.t. α only, the weight step treats α as a constant) or all (full backward passes, "
                    "unused gradients dropped)")
    ap.add_argument("--lr", type=float, default=None,
                    help="weights' learning rate (default: 0.05 search-step as fixtures.rs, 0.025 retrain-step)")
    ap.add_argument("--drop-path", type=float, default=0.1, help="retrain-step drop-path probability")
    ap.add_argument("--aux-weight", type=float, default=0.4, help="retrain-step auxiliary loss weight (0: no head)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    if args.channels < 2 or args.channels % 2:
        ap.error("--channels must be even and at least 2 (FactorizedReduce halves them)")
    net_cfg = NetworkConfig(
        in_channels=args.in_channels,
        image_size=args.image_size,
        num_classes=args.classes,
        channels=args.channels,
        layers=args.layers,
        nodes=args.nodes,
    )
    if args.genotype is not None:
        genotype_path = args.genotype
    elif args.what == "search-step":
        genotype_path = HERE / "search_eval_genotype.json"
    else:
        genotype_path = HERE / "default_genotype.json"
    genotype = None
    if args.what != "search-step" or args.algo == "icdarts":
        genotype = load_genotype(genotype_path)
        if genotype["n_nodes"] != args.nodes:
            ap.error(f"{genotype_path} has n_nodes {genotype['n_nodes']}, --nodes is {args.nodes}")

    config = asdict(net_cfg)
    extra = {}
    params = {}
    if args.what == "search-step":
        cfg = SearchConfig()
        lr = 0.05 if args.lr is None else args.lr
        space = op_space(args.zero)
        net = SearchNetwork(net_cfg, space, args.relaxation)
        alphas = init_alphas(edge_count(args.nodes), len(space), gen)
        opt_w = sgd(net.parameters(), lr, cfg.momentum, cfg.weight_decay)
        opt_alpha = torch.optim.Adam(
            list(alphas), lr=cfg.lr_alpha, betas=(cfg.alpha_beta1, cfg.alpha_beta2), eps=BURN_ADAM_EPS
        )
        eval_state = None
        if args.algo == "icdarts":
            e = EvalNetwork(net_cfg, genotype, auxiliary=False)  # eval C, L = search C, L in fixtures.rs
            eval_state = (e, sgd(e.parameters(), lr, cfg.momentum, cfg.weight_decay))
            params["eval_net"] = count_params(e)
        bt = random_batch(args.batch, args.in_channels, args.image_size, args.classes, 1, gen)
        bv = random_batch(args.batch, args.in_channels, args.image_size, args.classes, 2, gen)
        net.train()
        params["search_net"] = count_params(net)
        params["search_net_incl_frozen_bn"] = count_params(net, include_frozen_bn=True)
        params["alphas"] = count_params(alphas)
        losses = {}

        def step():
            losses.update(
                search_step(cfg, lr, bt, bv, net, alphas, opt_w, opt_alpha, eval_state, args.gradients)
            )

        extra = dict(
            lr=lr,
            relaxation=args.relaxation,
            zero=args.zero,
            ops=space,
            algo=args.algo,
            gradients=args.gradients,
            eval_genotype=str(genotype_path.name) if genotype else None,
        )
    elif args.what == "retrain-step":
        lr = 0.025 if args.lr is None else args.lr
        with_aux = args.aux_weight > 0.0
        model = EvalNetwork(net_cfg, genotype, auxiliary=with_aux)
        model.train()
        opt = sgd(model.parameters(), lr, 0.9, 5e-4)
        b = random_batch(args.batch, args.in_channels, args.image_size, args.classes, 1, gen)
        params["eval_net"] = count_params(model)
        losses = {}

        def step():
            logits, aux = model(b[0], args.drop_path, with_aux)
            right = int((logits.argmax(dim=1) == b[1]).sum())  # retrain.rs counts correct ones
            loss = cross_entropy(logits, b[1])
            if aux is not None:
                loss = loss + cross_entropy(aux, b[1]) * args.aux_weight
            losses["loss"] = loss.item()
            losses["correct"] = right
            loss.backward()
            clip_global_norm(model.parameters(), 5.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        extra = dict(lr=lr, drop_path=args.drop_path, aux_weight=args.aux_weight, genotype=genotype_path.name)
    else:  # infer
        model = EvalNetwork(net_cfg, genotype, auxiliary=False)
        model.eval()
        x = random_batch(args.batch, args.in_channels, args.image_size, args.classes, 1, gen)[0]
        params["eval_net"] = count_params(model)
        losses = {}

        def step():
            with torch.inference_mode():
                losses["argmax0"] = int(model.logits(x).argmax(dim=1)[0])

        extra = dict(genotype=genotype_path.name)

    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.what}, params {params}")
    load_before = os.getloadavg()
    ticks = {}
    times = time_steps(step, args.warmup, args.steps, lambda: ticks.update(before=cpu_ticks()))
    ticks["after"] = cpu_ticks()
    steal_pct = None
    if ticks.get("before") and ticks.get("after"):
        d_steal = ticks["after"][0] - ticks["before"][0]
        d_total = ticks["after"][1] - ticks["before"][1]
        steal_pct = round(100.0 * d_steal / d_total, 2) if d_total > 0 else None
    srt = sorted(times)
    median = srt[len(srt) // 2]  # as bench/harness/src/fixtures.rs (upper median)
    mean = sum(times) / len(times)
    log(f"last step: {losses}")
    out = {
        "impl": "pytorch",
        "torch_version": torch.__version__,
        "what": args.what,
        "config": {**config, "batch_size": args.batch, **extra},
        "threads": args.threads,
        "warmup": args.warmup,
        "steps": args.steps,
        "step_seconds": times,
        "ms_per_step_median": median * 1e3,
        "ms_per_step_mean": mean * 1e3,
        "images_per_s": args.batch / median,
        "params": params,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        # 1-minute load average before and after the timed loop: other work on
        # the machine skews the figures (this process adds up to `threads`).
        "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        # Share of CPU time the hypervisor took from this VM during the timed
        # steps (/proc/stat steal): noisy neighbours show up here, not in load.
        "cpu_steal_pct": steal_pct,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
