"""Many units at once: K units of one model (its seeds × folds) trained as one stacked model,
each as if alone.

**Why.** On a CPU the light baselines spend most of a training step outside arithmetic: MFN and
Graph_MFN step through 39 time steps in Python, each step a few dozen products of 64-row matrices
whose dispatch costs more than their FLOPs. The units of one model — five seeds, and five folds of
the same sizes — run the same sequence of operations on same-shaped tensors. Stacked side by side,
K small products become one batched product (``torch.baddbmm``), and the per-step overhead is paid
once for K units.

**How, without touching the models' code.** :func:`stack_members` takes K models built exactly as a
solo run builds them (``seed_everything(seed)``, then the registry) and returns a copy of the first
in which every leaf module that holds weights or draws random numbers is replaced by a *member*
version holding the K members' copies:

* :class:`MemberLinear`, :class:`MemberLSTMCell` — weights stacked ``(K, …)``, batched products;
* :class:`MemberBatchNorm1d` — each member's statistics over its own rows only;
* :class:`MemberDropout` — each member's mask drawn from *its* random stream (below);
* :class:`MemberLSTM` — the K members' own ``nn.LSTM`` modules, one after the other (torch's fused
  LSTM has no batched-weights form; running them in turn is exact).

The members' batches travel along the batch dimension, member-major: rows ``[member 0's batch,
member 1's batch, …]``, so a member leaf reshapes ``(K·B, …)`` to ``(K, B, …)``. The rest of the
model — concatenations, activations, slicing by time step — acts row by row and is unchanged.

**Each member behaves as if trained alone** (:func:`fit_members`):

* initial weights: its own model, built after ``seed_everything(its seed)``, as in a solo run;
* random stream: a ``torch.Generator`` holding the global generator's state right after that build,
  which is exactly the state a solo run's first dropout mask is drawn from; a dropout mask drawn as
  ``bernoulli_(1 - p, generator=…)`` equals ``F.dropout``'s on the CPU (``tests/msa/test_members.py``);
* data: its own split (a member of another fold has other training, validation and test clips;
  the splits of one stack must have the same sizes, so that every member has a batch of the same
  size at every step — CS-MSASR's five official folds all hold 759 / 109 / 217 clips);
* shuffling: drawn from that same stream in MMSA's places
  (:func:`~csmsasr_utils.msa.tensors.mmsa_shuffled_batches`), as a solo run draws it from the
  global generator, so each member gets a solo run's batches of its own split, training and
  validation alike;
* loss: the model's own ``training_loss`` on its slice of the outputs; the K losses are summed, so
  a member's gradient is that of its own loss;
* optimiser: the model's own ``configure_optimizer`` on the stacked parameters. Adam (with weight
  decay) works element by element, so each slice of a stacked moment is that member's own moment;
* early stopping and best weights per member. A member that stops is taken out of the stack (its
  slices of the parameters and of the optimiser's state removed), so it stops changing and costs
  nothing; its best weights are evaluated in a solo copy of the model, by the solo evaluation.

What differs from a solo run is the order in which a batched product sums: results agree to float
tolerance, not bit for bit. On CUDA, where ``F.dropout`` uses a fused kernel of its own, a member's
masks come from its own stream but are not a solo run's masks.

A model that computes a batch-level quantity inside ``forward`` computes it per member when
``self.members`` > 1 (:meth:`~csmsasr_utils.msa.base.MSAModel.per_member`: MFM's reconstruction and
MMD terms), and draws its random numbers through a module (MFM's prior sample,
:class:`MemberStandardNormal`). A frozen parameter outside a leaf that is the same in every member
(TFN's and MTFN's output range and shift, constants) is shared by the members as it is. Models
with other parameters outside a leaf module (LMF's and MLMF's factors and fusion weights) or whose
recipe has a scheduler, gradient accumulation or norm clipping (MulT, ALMT) are not stacked:
:func:`can_stack` says which are, and the runner trains the others one at a time.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from csmsasr_utils.errors import CsmsasrError, InvalidArgument
from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.models.mfm import StandardNormalSample
from csmsasr_utils.msa.tensors import MSATensors, mmsa_shuffled_batches
from csmsasr_utils.msa.trainer import (
    LOSS_DECIMALS,
    MIN_IMPROVEMENT,
    EpochLog,
    FitResult,
    _Batches,
    predict,
    resolve_device,
)
from csmsasr_utils.progress import progress
from csmsasr_utils.threads import rebalance_threads

#: Models whose every weight lives in a leaf this module stacks and whose forward acts row by row
#: (checked by ``tests/msa/test_members.py``: a stacked forward equals the members' solo forwards).
STACKABLE_MODELS: frozenset[str] = frozenset({"LF_DNN", "MLF_DNN", "EF_LSTM", "MFN", "Graph_MFN", "MFM", "TFN", "MTFN"})


class NotStackable(CsmsasrError):
    """The model cannot be trained as stacked members (see :func:`can_stack`)."""


def can_stack(model_name: str) -> bool:
    """Whether :func:`fit_members` trains ``model_name`` (its display name) as stacked members."""
    return model_name in STACKABLE_MODELS


# -- random streams ----------------------------------------------------------------------------------
class MemberStreams:
    """The members' random streams: one CPU ``torch.Generator`` per member, in member order.

    Built from each member's global-generator state right after its model was built, so member
    ``k`` draws the same numbers a solo run of its seed draws from the global generator.
    """

    def __init__(self, states: Sequence[torch.Tensor]):
        self.generators = []
        for state in states:
            generator = torch.Generator()
            generator.set_state(state)
            self.generators.append(generator)
        self._on_device: dict[tuple[int, str], torch.Generator] = {}

    def __len__(self) -> int:
        return len(self.generators)

    def keep(self, members: Sequence[int]) -> None:
        """Keep only the streams of ``members`` (positions in the current order)."""
        self.generators = [self.generators[k] for k in members]
        kept = {id(g) for g in self.generators}
        self._on_device = {key: g for key, g in self._on_device.items() if key[0] in kept}

    def generator(self, member: int, device: torch.device) -> torch.Generator:
        """Member ``member``'s generator for tensors on ``device``.

        On the CPU, the member's stream itself. On another device, a generator of that device
        seeded once from a copy of the member's stream: its own numbers, but not a solo run's (which
        come from the device's global generator and, for dropout on CUDA, a fused kernel of its
        own). The copy leaves the CPU stream, which the shuffling draws from, where a solo run has it.
        """
        if device.type == "cpu":
            return self.generators[member]
        key = (id(self.generators[member]), str(device))
        if key not in self._on_device:
            copy_of_stream = torch.Generator()
            copy_of_stream.set_state(self.generators[member].get_state())
            seed = int(torch.randint(2**62, (1,), generator=copy_of_stream))
            self._on_device[key] = torch.Generator(device).manual_seed(seed)
        return self._on_device[key]

    @contextmanager
    def as_global(self, member: int) -> Iterator[None]:
        """Run a block with member ``member``'s stream as torch's global generator, then store it back.

        For modules that draw from the global generator inside C++ (``nn.LSTM``'s dropout between
        layers); the global generator's own state is restored afterwards.
        """
        saved = torch.get_rng_state()
        torch.set_rng_state(self.generators[member].get_state())
        try:
            yield
        finally:
            self.generators[member].set_state(torch.get_rng_state())
            torch.set_rng_state(saved)


# -- member leaves ---------------------------------------------------------------------------------
def _stacked(tensors: Sequence[torch.Tensor], requires_grad: bool) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).clone(), requires_grad=requires_grad)


class MemberLeaf(nn.Module):
    """A leaf holding K members' copies of one module; subclasses say how to run and slice them."""

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s state, with the keys of the original module's ``state_dict``."""
        raise NotImplementedError

    def keep(self, members: Sequence[int]) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Drop every member not in ``members`` (positions in the current order).

        Returns ``(old, new)`` for each parameter replaced by a sliced copy, so that an optimiser's
        state can follow it; parameters kept as they are need no entry.
        """
        raise NotImplementedError

    @property
    def members(self) -> int:
        raise NotImplementedError


class MemberParameters(MemberLeaf):
    """Shared machinery of the leaves whose state is a set of stacked parameters and buffers."""

    parameter_names: tuple[str, ...] = ()
    buffer_names: tuple[str, ...] = ()

    def stack_from(self, modules: Sequence[nn.Module]) -> None:
        for name in self.parameter_names:
            originals = [getattr(m, name) for m in modules]
            if originals[0] is None:
                self.register_parameter(name, None)
            else:
                self.register_parameter(name, _stacked(originals, originals[0].requires_grad))
        for name in self.buffer_names:
            originals = [getattr(m, name) for m in modules]
            self.register_buffer(name, None if originals[0] is None else torch.stack(originals).clone())

    @property
    def members(self) -> int:
        return int(getattr(self, self.parameter_names[0]).shape[0])

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        state = {}
        for name in (*self.parameter_names, *self.buffer_names):
            value = getattr(self, name)
            if value is not None:
                state[name] = value.detach()[member].clone()
        return state

    def keep(self, members: Sequence[int]) -> list[tuple[nn.Parameter, nn.Parameter]]:
        index = torch.as_tensor(list(members), dtype=torch.long, device=getattr(self, self.parameter_names[0]).device)
        replaced = []
        for name in self.parameter_names:
            value = getattr(self, name)
            if value is not None:
                sliced = nn.Parameter(value.detach().index_select(0, index).clone(), value.requires_grad)
                self.register_parameter(name, sliced)
                replaced.append((value, sliced))
        for name in self.buffer_names:
            value = getattr(self, name)
            if value is not None:
                self.register_buffer(name, value.index_select(0, index).clone())
        return replaced


def _by_member(x: torch.Tensor, members: int) -> torch.Tensor:
    """``(K·B, …, d)`` → ``(K, B·…, d)``: member-major rows, one matrix per member."""
    return x.reshape(members, -1, x.shape[-1])


class MemberLinear(MemberParameters):
    """K ``nn.Linear`` layers: ``y_k = x_k W_kᵀ + b_k`` as one ``baddbmm``."""

    parameter_names = ("weight", "bias")

    def __init__(self, modules: Sequence[nn.Linear]):
        super().__init__()
        self.stack_from(modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.members
        rows = _by_member(x, k)
        weight_t = self.weight.transpose(1, 2)
        y = torch.bmm(rows, weight_t) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), rows, weight_t)
        return y.reshape(*x.shape[:-1], y.shape[-1])


def _time_step(x: torch.Tensor) -> tuple[torch.Tensor, int] | None:
    """``(sequence, t)`` when ``x`` is the view ``sequence[:, t]`` of a contiguous ``(N, T, d)`` tensor."""
    base = x._base
    if base is None or base.dim() != 3 or x.dim() != 2 or not base.is_contiguous():
        return None
    if x.shape != (base.shape[0], base.shape[2]) or x.stride() != (base.stride(0), base.stride(2)):
        return None
    offset = x.storage_offset() - base.storage_offset()
    if offset % base.stride(1) or not 0 <= offset // base.stride(1) < base.shape[1]:
        return None
    return base, offset // base.stride(1)


class MemberLSTMCell(MemberParameters):
    """K ``nn.LSTMCell``\\ s: torch's gate order (input, forget, cell, output) and equations."""

    parameter_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def __init__(self, modules: Sequence[nn.LSTMCell]):
        super().__init__()
        self.hidden_size = modules[0].hidden_size
        self.stack_from(modules)
        self._projection: tuple[torch.Tensor, int, tuple[torch.Tensor, ...]] | None = None

    def forget(self) -> None:
        """Drop the projected sequence (it belongs to one forward pass)."""
        self._projection = None

    def _gates(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        rows = _by_member(x, self.members)
        if bias is None:
            return torch.bmm(rows, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), rows, weight.transpose(1, 2))

    def _input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """``x W_ihᵀ + b_ih`` for one step; for a step ``sequence[:, t]`` of a whole sequence, a slice
        of the projection of every step at once.

        The time loops of MFN and Graph_MFN call a cell with ``x[:, t]``, a view of the
        ``(K·B, T, d)`` sequence. Projecting all ``T`` steps in one product (and, backwards, one
        weight gradient over ``B·T`` rows instead of ``T`` products over ``B`` rows) is the same
        arithmetic in another order: one large product instead of 39 small ones, which on a CPU cost
        several times more than their FLOPs. The projection lives for one forward pass of the
        stacked model (:meth:`forget`, called before and after each).
        """
        step = _time_step(x)
        if step is None:
            return self._gates(x, self.weight_ih, self.bias_ih)
        sequence, t = step
        if self._projection is None or self._projection[0] is not sequence or self._projection[1] != sequence._version:
            k, rows, steps, width = (
                self.members,
                sequence.shape[0] // self.members,
                sequence.shape[1],
                sequence.shape[2],
            )
            flat = sequence.reshape(k, rows * steps, width)
            projected = self._gates(flat.reshape(-1, width), self.weight_ih, self.bias_ih)
            # unbind once: its backward stacks the steps' gradients in one copy, where slicing
            # would give every step a zero-filled gradient of the whole sequence
            self._projection = (sequence, sequence._version, projected.reshape(k, rows, steps, -1).unbind(2))
        return self._projection[2][t]

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        hidden, cell = state
        gates = self._input_gates(x) + self._gates(hidden, self.weight_hh, self.bias_hh)
        i, f, g, o = gates.chunk(4, dim=2)
        new_cell = torch.sigmoid(f) * _by_member(cell, self.members) + torch.sigmoid(i) * torch.tanh(g)
        new_hidden = torch.sigmoid(o) * torch.tanh(new_cell)
        return new_hidden.reshape(hidden.shape), new_cell.reshape(cell.shape)


class MemberBatchNorm1d(MemberParameters):
    """K ``nn.BatchNorm1d``: each member normalised over its own rows, with its own running statistics.

    The K members' channels are laid side by side, ``(B, K·C, …)``, and normalised by one
    ``batch_norm`` call — per channel, the same statistics as K separate calls.
    """

    parameter_names = ("weight", "bias")
    buffer_names = ("running_mean", "running_var", "num_batches_tracked")

    def __init__(self, modules: Sequence[nn.BatchNorm1d]):
        super().__init__()
        first = modules[0]
        if not (first.affine and first.track_running_stats) or first.momentum is None:
            raise NotStackable("only affine batch norm with running statistics and a momentum is stacked")
        self.eps, self.momentum = first.eps, first.momentum
        self.stack_from(modules)

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        state = super().member_state(member)
        state["num_batches_tracked"] = self.num_batches_tracked[member].clone()
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.members
        channels = self.weight.shape[1]
        rest = x.shape[2:]
        side_by_side = x.reshape(k, -1, channels, *rest).transpose(0, 1).reshape(-1, k * channels, *rest)
        if self.training:
            self.num_batches_tracked.add_(1)
        y = nn.functional.batch_norm(
            side_by_side,
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.view(-1),
            self.bias.view(-1),
            self.training,
            self.momentum,
            self.eps,
        )
        return y.reshape(-1, k, channels, *rest).transpose(0, 1).reshape(x.shape)


class MemberDraws(MemberLeaf):
    """A leaf without weights that draws random numbers: member ``k``'s from member ``k``'s stream."""

    def __init__(self, streams: MemberStreams):
        super().__init__()
        self.streams = streams

    @property
    def members(self) -> int:
        return len(self.streams)

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        return {}

    def keep(self, members: Sequence[int]) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Nothing to slice: the streams are shared by every leaf and sliced once."""
        return []

    def draw(self, like: torch.Tensor, fill: Callable[[torch.Tensor, torch.Generator], object]) -> torch.Tensor:
        """A contiguous tensor shaped like ``like`` whose member ``k`` rows are ``fill(rows, generator k)``."""
        sample = torch.empty_like(like, memory_format=torch.contiguous_format)
        for member, rows in enumerate(sample.view(self.members, -1)):
            fill(rows, self.streams.generator(member, like.device))
        return sample


class MemberDropout(MemberDraws):
    """K ``nn.Dropout``\\ s, member ``k``'s mask drawn from member ``k``'s stream.

    The mask is ``F.dropout``'s own on the CPU: ``bernoulli(1 - p) / (1 - p)`` over a tensor of the
    member's shape, from the generator a solo run would use.
    """

    def __init__(self, p: float, streams: MemberStreams):
        super().__init__(streams)
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        noise = self.draw(x, lambda rows, generator: rows.bernoulli_(1.0 - self.p, generator=generator))
        return x * noise.div_(1.0 - self.p)


class MemberStandardNormal(MemberDraws):
    """MFM's prior sample for K members: member ``k``'s rows from member ``k``'s stream.

    ``randn_like`` draws ``normal_(0, 1)`` over a tensor of the member's shape from the global
    generator; here the same call on the member's contiguous rows, from its own generator.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.draw(z, lambda rows, generator: rows.normal_(0.0, 1.0, generator=generator))


class MemberLSTM(MemberLeaf):
    """K batch-first ``nn.LSTM``\\ s run one after the other, each with its member's random stream."""

    def __init__(self, modules: Sequence[nn.LSTM], streams: MemberStreams):
        super().__init__()
        if not modules[0].batch_first:
            raise NotStackable("only batch-first nn.LSTM modules are stacked")
        self.lstms = nn.ModuleList(modules)
        self.streams = streams
        self.draws = modules[0].dropout > 0 and modules[0].num_layers > 1

    @property
    def members(self) -> int:
        return len(self.lstms)

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.lstms[member].state_dict().items()}

    def keep(self, members: Sequence[int]) -> list[tuple[nn.Parameter, nn.Parameter]]:
        self.lstms = nn.ModuleList(self.lstms[k] for k in members)
        return []  # the kept members' own parameters stay as they are

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        outputs, hiddens, cells = [], [], []
        for member, (lstm, rows) in enumerate(zip(self.lstms, x.chunk(self.members, dim=0), strict=True)):
            if self.draws and self.training:
                with self.streams.as_global(member):
                    out, (h, c) = lstm(rows)
            else:
                out, (h, c) = lstm(rows)
            outputs.append(out)
            hiddens.append(h)
            cells.append(c)
        return torch.cat(outputs, dim=0), (torch.cat(hiddens, dim=1), torch.cat(cells, dim=1))


def _member_leaf(modules: Sequence[nn.Module], streams: MemberStreams) -> MemberLeaf | None:
    """The member version of a leaf, ``None`` for a leaf with no weights and no randomness."""
    first = modules[0]
    if isinstance(first, nn.Linear):
        return MemberLinear(modules)
    if isinstance(first, nn.LSTMCell):
        return MemberLSTMCell(modules)
    if isinstance(first, nn.BatchNorm1d):
        return MemberBatchNorm1d(modules)
    if isinstance(first, nn.Dropout):
        return MemberDropout(first.p, streams)
    if isinstance(first, nn.LSTM):
        return MemberLSTM(modules, streams)
    if isinstance(first, StandardNormalSample):
        return MemberStandardNormal(streams)
    if any(True for _ in first.parameters(recurse=False)) or any(True for _ in first.buffers(recurse=False)):
        raise NotStackable(f"{type(first).__name__} holds weights of its own and has no member version")
    return None


def _leaf_paths(model: nn.Module) -> list[str]:
    """Paths of the modules to stack: the known leaves, and any other module without children."""
    known = (nn.Linear, nn.LSTMCell, nn.BatchNorm1d, nn.Dropout, nn.LSTM, StandardNormalSample)
    paths: list[str] = []

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            if isinstance(child, known) or not any(True for _ in child.children()):
                paths.append(path)
            else:
                walk(child, path + ".")

    walk(model, "")
    return paths


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    parent._modules[name] = module


@dataclass
class StackedModel:
    """K members as one module: ``module`` runs ``(K·B, …)`` batches, member-major."""

    module: MSAModel
    leaves: dict[str, MemberLeaf]
    streams: MemberStreams
    #: Frozen tensors outside the leaves, the same in every member, held once (see :func:`shared_constants`).
    shared: tuple[str, ...] = ()

    @property
    def members(self) -> int:
        return len(self.streams)

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s weights under the solo model's ``state_dict`` keys."""
        module_state = self.module.state_dict()
        state = {name: module_state[name].detach().clone() for name in self.shared}
        for path, leaf in self.leaves.items():
            state.update({f"{path}.{name}": value for name, value in leaf.member_state(member).items()})
        return state

    def keep(self, members: Sequence[int]) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Keep only ``members`` (positions in the current order), in that order; see :meth:`MemberLeaf.keep`."""
        replaced = [pair for leaf in self.leaves.values() for pair in leaf.keep(members)]
        self.streams.keep(members)
        self.module.members = len(members)
        return replaced


def shared_constants(models: Sequence[MSAModel], names: Sequence[str]) -> tuple[str, ...]:
    """Those of ``names`` (state-dict keys) that are constants the members can share: a buffer or a
    parameter that is never trained, equal in every model (TFN's output range and shift)."""
    frozen = {name for name, p in models[0].named_parameters() if not p.requires_grad}
    frozen |= {name for name, _ in models[0].named_buffers()}
    states = [m.state_dict() for m in models]
    return tuple(
        name
        for name in names
        if name in frozen and all(torch.equal(states[0][name], state[name]) for state in states[1:])
    )


def stack_members(models: Sequence[MSAModel], rng_states: Sequence[torch.Tensor]) -> StackedModel:
    """Stack K models of one architecture (each with its global-RNG state after its build).

    Raises :class:`NotStackable` when a weight or buffer of the models would not be stacked (its
    solo ``state_dict`` could not be rebuilt from the members).
    """
    if len(models) < 1 or len(models) != len(rng_states):
        raise InvalidArgument("stack_members needs one RNG state per model, and at least one model")
    if len({type(m) for m in models}) != 1:
        raise InvalidArgument("stacked members must all be the same model")
    streams = MemberStreams(rng_states)
    module = copy.deepcopy(models[0])
    leaves: dict[str, MemberLeaf] = {}
    for path in _leaf_paths(models[0]):
        leaf = _member_leaf([m.get_submodule(path) for m in models], streams)
        if leaf is not None:
            _set_submodule(module, path, leaf)
            leaves[path] = leaf
    cells = [leaf for leaf in leaves.values() if isinstance(leaf, MemberLSTMCell)]
    if cells:

        def forget_projections(*_: object) -> None:
            for cell in cells:
                cell.forget()

        module.register_forward_pre_hook(forget_projections)
        module.register_forward_hook(forget_projections)
    module.members = len(models)
    in_leaves = {f"{path}.{name}" for path, leaf in leaves.items() for name in leaf.member_state(0)}
    outside = sorted(set(models[0].state_dict()) - in_leaves)
    stacked = StackedModel(module, leaves, streams, shared_constants(models, outside))
    missing = set(models[0].state_dict()) - set(stacked.member_state_dict(0))
    if missing:
        raise NotStackable(f"{models[0].display_name}: weights outside stackable leaves: {sorted(missing)[:5]}")
    return stacked


# -- training ---------------------------------------------------------------------------------------
def member_outputs(outputs: Outputs, members: int, member: int) -> Outputs:
    """Member ``member``'s slice of a stacked forward's outputs: its rows of every per-clip output,
    its entry of every per-member output (shape ``(members,)``, see :meth:`~csmsasr_utils.msa.base.MSAModel.per_member`)."""
    sliced = {}
    for key, value in outputs.items():
        if value.ndim == 1 and value.shape[0] == members:
            sliced[key] = value[member]  # one batch-level quantity per member (MSAModel.per_member)
        elif value.ndim == 0 and members == 1:
            sliced[key] = value  # the last member of a stack: per_member gives it as a solo model does
        elif value.ndim == 0 or value.shape[0] % members:
            raise NotStackable(f"output {key!r} of shape {tuple(value.shape)} is neither per clip nor per member")
        else:
            sliced[key] = value.chunk(members, dim=0)[member]
    return sliced


def _carry_optimizer_state(
    old: torch.optim.Optimizer,
    new: torch.optim.Optimizer,
    replaced: Sequence[tuple[nn.Parameter, nn.Parameter]],
    members: Sequence[int],
) -> None:
    """Give ``new`` the state ``old`` holds for the kept ``members``.

    A parameter replaced by a sliced copy gets the same slices of its state (Adam's moments);
    a parameter kept as it is (a kept member's own ``nn.LSTM``) keeps its state as it is.
    """
    sliced_from = {id(new_p): old_p for old_p, new_p in replaced}
    index = torch.as_tensor(list(members), dtype=torch.long)
    for group in new.param_groups:
        for p in group["params"]:
            source = sliced_from.get(id(p))
            if source is None:
                if p in old.state:
                    new.state[p] = old.state[p]
                continue
            carried = {}
            for key, value in old.state.get(source, {}).items():
                if torch.is_tensor(value) and value.ndim > 0 and value.shape == source.shape:
                    carried[key] = value.index_select(0, index.to(value.device)).clone()
                else:
                    carried[key] = value.clone() if torch.is_tensor(value) else value
            if carried:
                new.state[p] = carried


@dataclass
class _MemberLog:
    seed: int
    history: list[EpochLog]
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    stopped_by: str | None = None
    epochs: int = 0


#: A split: row positions of its ``train``, ``valid`` and ``test`` clips.
Split = Mapping[str, np.ndarray]


def stack_sizes(split: Split) -> tuple[int, int]:
    """The sizes that the members of one stack must share: their training and validation clips.

    Members step through their batches together, so every member must have a batch of the same
    size at every step; test sets may differ, because each member is tested alone.
    """
    return len(split["train"]), len(split["valid"])


def member_splits(split_rows: Split | Sequence[Split], members: int) -> list[Split]:
    """Each member's split: ``split_rows`` for all (one mapping), or one mapping per member (folds).

    Raises :class:`~csmsasr_utils.errors.InvalidArgument` for an empty split, a count other than
    ``members``, or splits whose :func:`stack_sizes` differ.
    """
    splits = [split_rows] * members if isinstance(split_rows, Mapping) else list(split_rows)
    if len(splits) != members:
        raise InvalidArgument(f"{len(splits)} splits for {members} members: give one split, or one per member")
    for split in splits:
        for name in ("train", "valid", "test"):
            if len(split.get(name, ())) == 0:
                raise InvalidArgument(f"split_rows['{name}'] is empty: each split needs at least one row")
    sizes = {stack_sizes(split) for split in splits}
    if len(sizes) > 1:
        raise InvalidArgument(
            f"members trained together need splits of the same sizes; got (train, valid) sizes {sorted(sizes)}"
        )
    return splits


def fit_members(
    models: Sequence[MSAModel],
    rng_states: Sequence[torch.Tensor],
    seeds: Sequence[int],
    data: MSATensors,
    split_rows: Split | Sequence[Split],
    *,
    device: str | torch.device | None = "cpu",
    max_epochs: int | None = None,
    show_progress: bool = True,
) -> list[FitResult]:
    """Train the K ``models`` (seeds ``seeds``) together; one ``FitResult`` each.

    ``split_rows``: one split for every member (seeds of one fold), or one per member (seeds ×
    folds; see :func:`member_splits`). The results equal K calls of
    :func:`~csmsasr_utils.msa.trainer.fit` to float tolerance (see the module docstring).
    ``wall_seconds`` of each result is the group's wall time divided by K; ``extra`` holds
    ``units_at_once`` and ``group_wall_seconds``.
    """
    if not (len(models) == len(rng_states) == len(seeds)):
        raise InvalidArgument("fit_members needs one model, one RNG state and one seed per member")
    splits = member_splits(split_rows, len(models))
    first = models[0]
    if not can_stack(first.display_name):
        raise NotStackable(f"{first.display_name} is not trained as stacked members; train it alone")
    start = time.perf_counter()
    device = resolve_device(device)
    stacked = stack_members(models, rng_states)
    model = stacked.module.to(device)
    batches = _Batches(data, first, device)
    optimizer = model.configure_optimizer()
    logs = [_MemberLog(int(s), []) for s in seeds]
    active = list(range(len(models)))  # original member numbers, in stack order
    cap = min(c for c in (max_epochs, first.max_epochs, 10**9) if c is not None)
    batch_size = int(first.hp["batch_size"])
    n_train = len(splits[0]["train"])
    bar = progress(
        total=cap if cap < 10**9 else None,
        desc=f"{first.display_name} × {len(models)} units",
        unit="epoch",
        disable=None if show_progress else True,
    )
    epoch = 0
    while active:
        epoch += 1
        rebalance_threads()  # a local worker takes the cores others freed (threads.CoreShare)
        k = len(active)
        model.train()
        losses: list[list[float]] = [[] for _ in active]
        trainable = model.trainable_parameters()
        shuffled = [
            mmsa_shuffled_batches(splits[member]["train"], batch_size, stream)
            for member, stream in zip(active, stacked.streams.generators, strict=True)
        ]
        for member_batches in zip(*shuffled, strict=True):
            if len(member_batches[0]) == 1 and n_train > 1:
                continue  # as fit(): batch norm cannot train on one clip
            optimizer.zero_grad()
            inputs, labels = batches(np.concatenate(member_batches))
            outputs = model(*inputs)
            member_losses = [
                model.training_loss(member_outputs(outputs, k, j), {n: v.chunk(k)[j] for n, v in labels.items()})
                for j in range(k)
            ]
            torch.stack(member_losses).sum().backward()
            if model.clip_grad_value is not None:
                torch.nn.utils.clip_grad_value_(trainable, model.clip_grad_value)
            optimizer.step()
            for j, loss in enumerate(member_losses):
                losses[j].append(loss.item())
        valid_rows = [splits[member]["valid"] for member in active]
        valid = _member_validation_losses(model, batches, valid_rows, batch_size, stacked.streams)
        learning_rate = float(optimizer.param_groups[-1]["lr"])
        stopping: list[int] = []
        for j, member in enumerate(active):
            log = logs[member]
            valid_loss = round(valid[j], LOSS_DECIMALS)
            log.history.append(EpochLog(epoch, float(np.mean(losses[j])), valid_loss, learning_rate))
            log.epochs = epoch
            if valid_loss <= log.best_loss - MIN_IMPROVEMENT:
                log.best_loss, log.best_epoch = valid_loss, epoch
                log.best_state = {n: v.to("cpu") for n, v in stacked.member_state_dict(j).items()}
            if epoch - log.best_epoch >= first.patience:
                log.stopped_by = "early stopping"
            elif epoch >= cap:
                log.stopped_by = "epoch cap"
            if log.stopped_by:
                stopping.append(j)
        bar.update(1)
        bar.set_postfix(training=k - len(stopping))
        if stopping:
            kept = [j for j in range(k) if j not in stopping]
            active = [active[j] for j in kept]
            if active:
                replaced = stacked.keep(kept)
                new_optimizer = model.configure_optimizer()
                _carry_optimizer_state(optimizer, new_optimizer, replaced, kept)
                optimizer = new_optimizer
    bar.close()
    wall = time.perf_counter() - start
    labels_m = data.labels["M"].numpy()
    results = []
    for member, solo in enumerate(models):
        log = logs[member]
        solo.to(device)
        if log.best_state is not None:
            solo.load_state_dict(log.best_state)
        split = splits[member]
        valid_pred = predict(solo, batches, split["valid"])
        test_pred = predict(solo, batches, split["test"])
        results.append(
            FitResult(
                model=solo.display_name,
                seed=log.seed,
                epochs=log.epochs,
                best_epoch=log.best_epoch,
                stopped_by=log.stopped_by or "epoch cap",
                history=log.history,
                valid_metrics=sims_regression_metrics(valid_pred, labels_m[split["valid"]]),
                test_metrics=sims_regression_metrics(test_pred, labels_m[split["test"]]),
                test_clip_ids=[str(c) for c in data.clip_ids[split["test"]]],
                test_predictions=[float(p) for p in test_pred],
                wall_seconds=wall / len(models),
                device=str(device),
                trainable_parameters=solo.count_trainable_parameters(),
                extra={"units_at_once": len(models), "group_wall_seconds": wall},
            )
        )
    return results


@torch.no_grad()
def _member_validation_losses(
    model: MSAModel, batches: _Batches, rows: Sequence[np.ndarray], batch_size: int, streams: MemberStreams
) -> list[float]:
    """Each member's mean per-batch validation loss over its own shuffled batches of its ``rows``
    (one array per member in stack order), drawn from its own stream (as
    :func:`~csmsasr_utils.msa.trainer.validation_loss` draws a solo run's)."""
    model.eval()
    members = len(streams)
    per_member: list[list[float]] = [[] for _ in range(members)]
    shuffled = [
        mmsa_shuffled_batches(member_rows, batch_size, stream)
        for member_rows, stream in zip(rows, streams.generators, strict=True)
    ]
    for member_batches in zip(*shuffled, strict=True):
        inputs, labels = batches(np.concatenate(member_batches))
        outputs = model(*inputs)
        for j in range(members):
            member_labels = {n: v.chunk(members)[j] for n, v in labels.items()}
            per_member[j].append(model.validation_loss(member_outputs(outputs, members, j), member_labels).item())
    return [float(np.mean(losses)) for losses in per_member]


def build_members(name: str, seeds: Sequence[int], data: MSATensors, **overrides) -> tuple[list, list]:
    """The K models of ``name`` as K solo runs build them, and each one's global-RNG state after."""
    from csmsasr_utils.msa.registry import build_model
    from csmsasr_utils.seeding import seed_everything

    models, states = [], []
    for seed in seeds:
        seed_everything(int(seed))
        models.append(build_model(name, feature_dims=data.feature_dims, seq_lens=data.seq_lens, **overrides))
        states.append(torch.get_rng_state())
    return models, states


def train_members(
    name: str,
    data: MSATensors,
    split_rows: Split | Sequence[Split],
    *,
    seeds: Sequence[int],
    device: str | torch.device | None = "cpu",
    max_epochs: int | None = None,
    show_progress: bool = True,
    **overrides,
) -> list[FitResult]:
    """:func:`~csmsasr_utils.msa.trainer.train_baseline` for several units at once, one result each.

    ``split_rows``: one split for all seeds, or one per seed (the units' folds; :func:`member_splits`).
    """
    models, states = build_members(name, seeds, data, **overrides)
    return fit_members(
        models, states, seeds, data, split_rows, device=device, max_epochs=max_epochs, show_progress=show_progress
    )


# -- how many at once -------------------------------------------------------------------------------
#: Models whose stacked training step costs less than K solo steps on a CPU (``bench_members.py``):
#: the time-loop models. In the others a step is dominated by their unimodal ``nn.LSTM`` (run
#: member by member) or by large products, and stacking costs more than it saves on a CPU; on a
#: GPU, where every small kernel is mostly launch overhead, every stackable model gains.
CPU_STACKING_GAINS: frozenset[str] = frozenset({"MFN", "Graph_MFN", "MFM"})

#: The share of the free memory that the members of one stacked run may take together.
MEMORY_SHARE = 0.5


def member_memory_bytes(name: str, data: MSATensors, **overrides) -> int:
    """Estimated memory one more member takes: six copies of its weights and one batch's activations.

    The weights: the stacked weights, their gradients, Adam's two moments, the best epoch's copy
    and the solo copy kept for evaluation. The activations: the bytes of every tensor autograd
    saves for the backward pass of one training batch at the model's batch size (measured on a
    throw-away model, with torch's random state restored afterwards).
    """
    from csmsasr_utils.msa.registry import build_model

    with torch.random.fork_rng(devices=[]):
        model = build_model(name, feature_dims=data.feature_dims, seq_lens=data.seq_lens, **overrides)
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        rows = np.arange(min(int(model.hp["batch_size"]), len(data.clip_ids)))
        inputs, labels = _Batches(data, model, torch.device("cpu"))(rows)
        saved = 0

        def count(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            saved += tensor.numel() * tensor.element_size()
            return tensor

        model.train()
        with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
            model.training_loss(model(*inputs), labels)
    return 6 * weights + saved


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: CUDA's free memory, or the kernel's ``MemAvailable`` (``None`` if unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def gains_from_stacking(name: str, device: str | torch.device | None = "cpu") -> bool:
    """Whether stacking model ``name`` saves time on ``device``: every stackable model on a GPU,
    the models of :data:`CPU_STACKING_GAINS` on a CPU."""
    if not can_stack(name):
        return False
    return resolve_device(device).type != "cpu" or name in CPU_STACKING_GAINS


def auto_units_at_once(
    name: str, data: MSATensors, units: int, device: str | torch.device | None = "cpu", **overrides
) -> int:
    """How many of ``units`` seeds of model ``name`` to stack: as many as :data:`MEMORY_SHARE` of the
    free memory holds (:func:`member_memory_bytes`), and 1 on a CPU for models that do not gain."""
    resolved = resolve_device(device)
    if units <= 1 or not gains_from_stacking(name, resolved):
        return 1
    free = free_memory_bytes(resolved)
    if free is None:
        return units
    return max(1, min(units, int(MEMORY_SHARE * free // member_memory_bytes(name, data, **overrides))))
