"""Graph-MFN — MFN with a Dynamic Fusion Graph (Zadeh et al., ACL 2018, "Multimodal Language
Analysis in the Wild: CMU-MOSEI Dataset and Interpretable Dynamic Fusion Graph").

Graph-MFN keeps MFN's per-modality LSTMs and its gated memory but replaces the delta-memory
attention by a *Dynamic Fusion Graph* (DFG). At every step each modality's previous and current
hidden states are mapped to a singleton vertex; the DFG builds a vertex for every pair and for the
triple from the vertices below it, each input scaled by an *efficacy* (a learned, input-dependent
weight), and a top vertex τ from all seven vertices. τ is what the memory reads.

Shape walk-through with CS-MSASR sizes and MMSA's ``sims`` table (hidden 256/32/256, vertex 128,
memory 64):

* input: raw padded audio ``(B, 553, 13)`` and vision ``(B, 321, 347)`` are average-pooled to the
  text length (``GraphMFN.aligned_input``): ``(B, 39, 13)``, ``(B, 39, 347)``; text
  ``(B, 39, 768)``;
* per step: LSTM cells → hidden 256 / 32 / 256; singletons ``relu(Linear([h_prev, h_new]))``
  256 / 32 / 256; efficacies ``Linear(544 → 100 → 128 → 19)`` (no nonlinearity, no softmax);
  pair vertices ``Linear(in → 100 → 128)`` with ``in`` 288 / 512 / 288; triple vertex
  ``544 + 3·128 = 928 → 100 → 128``; τ ``544 + 4·128 = 1056 → 100 → 128``; proposal
  ``128 → 256 → 64`` (tanh), gates ``128 + 64 → 32 → 64`` (sigmoid);
* after the last step: ``[h_text, h_audio, h_vision, memory]`` ``(B, 608)`` → ``256`` → ``(B, 1)``.

MMSA facts honoured (``models/singleTask/Graph_MFN.py``, ``trains/singleTask/Graph_MFN.py`` at
``a94e65d``): layer sizes and order as above, the DFG's inner width 100 fixed in the code, the
second layer of every vertex network (and of τ's) a copy of one shared initial
``Linear(100, 128)`` (identical at initialisation), no nonlinearity anywhere in the DFG
(every network is two or three stacked Linear layers), efficacies used raw, the memory (``NNConfig``
proposal, ``gamma1Config``/``gamma2Config`` gates) and output layer (``outConfig``) as in MFN;
Adam over ``model.parameters()`` with the table's learning rate and weight decay; L1 on M for
training and validation. The per-step efficacies are returned (detached) as ``'Efficacies'``
``(B, 39, 19)``, as MMSA records them.

**MMSA bug kept by default.** MMSA keeps the pair/triple vertex networks in a plain ``dict``, so
they are not registered sub-modules: they are not in ``model.parameters()`` (hence never optimised)
and not in the saved ``state_dict`` — they keep their random initial weights for the whole run.
They are therefore frozen here (``requires_grad=False``; 253,712 scalars). Setting the
hyper-parameter ``dfg_train_vertex_networks=True`` (see :attr:`GraphMFN.options`) trains them too,
as the DFG paper intends. τ's network and the efficacy network are registered in MMSA and trained.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, ClassVar

import torch
from torch import nn

from csmsasr_utils.msa.alignment import align_to_length
from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.models.mfn import GatedMemory, two_layer_net
from csmsasr_utils.msa.registry import register

#: Width of the first layer of every DFG network (a constant in MMSA's code, not a table entry).
DFG_INNER_DIM = 100

Vertex = tuple[int, ...]


def _nonempty_subsets(items: Sequence[int]) -> list[Vertex]:
    """Subsets by size, then in order: ``(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)``."""
    return [s for size in range(1, len(items) + 1) for s in combinations(items, size)]


class DynamicFusionGraph(nn.Module):
    """DFG over ``len(vertex_dims)`` singleton vertices; returns τ ``(B, node_dim)`` and efficacies.

    Every multimodal vertex ``v`` reads all non-empty proper subsets of ``v`` (singletons and
    smaller multimodal vertices), each multiplied by its own efficacy; τ (key ``()``) reads every
    vertex. The efficacy columns are used in that order: the pairs, the triple, then τ.
    """

    def __init__(self, vertex_dims: Sequence[int], node_dim: int, train_vertex_networks: bool):
        super().__init__()
        modalities = list(range(len(vertex_dims)))
        self.multimodal: list[Vertex] = [v for v in _nonempty_subsets(modalities) if len(v) > 1]
        self.sources: dict[Vertex, list[Vertex]] = {v: _nonempty_subsets(v)[:-1] for v in self.multimodal}
        self.sources[()] = _nonempty_subsets(modalities)  # τ
        self.first_column: dict[Vertex, int] = {}
        self.n_efficacies = 0
        for vertex, sources in self.sources.items():
            self.first_column[vertex] = self.n_efficacies
            self.n_efficacies += len(sources)
        width: dict[Vertex, int] = {(m,): int(d) for m, d in zip(modalities, vertex_dims)}
        width.update({v: node_dim for v in self.multimodal})

        shared_output_layer = nn.Linear(DFG_INNER_DIM, node_dim)  # copied into every network
        efficacy_middle = nn.Linear(DFG_INNER_DIM, node_dim)

        def vertex_network(vertex: Vertex) -> nn.Sequential:
            in_dim = sum(width[u] for u in self.sources[vertex])
            return nn.Sequential(nn.Linear(in_dim, DFG_INNER_DIM), copy.deepcopy(shared_output_layer))

        self.vertex_networks = nn.ModuleDict({self._name(v): vertex_network(v) for v in self.multimodal})
        self.top_network = vertex_network(())
        self.efficacy_network = nn.Sequential(
            nn.Linear(sum(vertex_dims), DFG_INNER_DIM), efficacy_middle, nn.Linear(node_dim, self.n_efficacies)
        )
        self.vertex_networks.requires_grad_(train_vertex_networks)

    @staticmethod
    def _name(vertex: Vertex) -> str:
        return "_".join(str(m) for m in vertex)

    def _weighted_sources(
        self, vertex: Vertex, outputs: dict[Vertex, torch.Tensor], efficacies: torch.Tensor
    ) -> torch.Tensor:
        first = self.first_column[vertex]
        return torch.cat(
            [outputs[u] * efficacies[:, first + i, None] for i, u in enumerate(self.sources[vertex])], dim=1
        )

    def forward(self, singletons: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        efficacies = self.efficacy_network(torch.cat(list(singletons), dim=1))
        outputs: dict[Vertex, torch.Tensor] = {(m,): x for m, x in enumerate(singletons)}
        for vertex in self.multimodal:
            network = self.vertex_networks[self._name(vertex)]
            outputs[vertex] = network(self._weighted_sources(vertex, outputs, efficacies))
        return self.top_network(self._weighted_sources((), outputs, efficacies)), efficacies


@register
class GraphMFN(MSAModel):
    """MFN whose memory reads a Dynamic Fusion Graph of the three modalities."""

    key = "graph_mfn"
    display_name = "Graph_MFN"
    aligned_input = True
    #: Option keys (not in MMSA's table) and their defaults, MMSA's behaviour.
    options: ClassVar[dict[str, Any]] = {"dfg_train_vertex_networks": False}

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        feature_dims = [int(d) for d in self.hp["feature_dims"]]
        self.hidden_dims = [int(h) for h in self.hp["hidden_dims"]]
        node_dim = int(self.hp["inner_node_dim"])
        memory_dim = int(self.hp["memsize"])
        self.cells = nn.ModuleList(nn.LSTMCell(d, h) for d, h in zip(feature_dims, self.hidden_dims, strict=True))
        # singleton vertex size = hidden size, as in MMSA
        self.singletons = nn.ModuleList(nn.Linear(2 * h, h) for h in self.hidden_dims)
        train_vertices = bool(self.hp["dfg_train_vertex_networks"])
        self.graph = DynamicFusionGraph(self.hidden_dims, node_dim, train_vertices)
        self.memory = GatedMemory(
            node_dim, memory_dim, self.hp["NNConfig"], self.hp["gamma1Config"], self.hp["gamma2Config"]
        )
        self.head = two_layer_net(sum(self.hidden_dims) + memory_dim, self.hp["outConfig"], 1)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``M`` ``(B, 1)`` and the detached per-step efficacies ``(B, T, 19)``."""
        steps = text.size(1)
        inputs = (text, align_to_length(audio, steps), align_to_length(vision, steps))
        batch = text.size(0)
        hidden = [text.new_zeros(batch, h) for h in self.hidden_dims]
        cell = [text.new_zeros(batch, h) for h in self.hidden_dims]
        memory = text.new_zeros(batch, self.memory.memory_dim)
        efficacies = []
        for t in range(steps):
            new_states = [lstm(x[:, t], (h, c)) for lstm, x, h, c in zip(self.cells, inputs, hidden, cell)]
            singletons = [
                torch.relu(transform(torch.cat([h_prev, h_new], dim=1)))
                for transform, h_prev, (h_new, _) in zip(self.singletons, hidden, new_states)
            ]
            summary, step_efficacies = self.graph(singletons)
            efficacies.append(step_efficacies.detach())
            memory = self.memory(summary, memory)
            hidden, cell = [h for h, _ in new_states], [c for _, c in new_states]
        output = self.head(torch.cat(hidden + [memory], dim=1))
        return {"M": output, "Efficacies": torch.stack(efficacies, dim=1)}
