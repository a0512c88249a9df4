"""Tacotron2 acoustic model: batched, seeded inference around ``torchaudio.models.Tacotron2``.

Data flow: ``text.text_to_sequence`` (symbol ids) -> this module (log-mel frames, one clip per
item) -> a vocoder (``hifigan`` or Griffin-Lim). ``checkpoints.py`` builds the model from a
file; ``synthesizer.py`` groups sentences into batches and calls :func:`decode_batch`.

The network and its weights are torchaudio's; only the inference loop is ours, because
torchaudio's ``Tacotron2.infer`` cannot give each item of a batch its own random stream.
Tacotron2 keeps the prenet's dropout (p = 0.5) switched on at inference (Shen et al., "Natural
TTS Synthesis by Conditioning WaveNet on Mel Spectrogram Predictions", ICASSP 2018, sec. 2.3),
so every clip depends on random masks. Here every item draws its masks from its own
``torch.Generator`` seeded with the item's seed, in fixed-size chunks, so a seed gives the same
clip whatever else shares the batch. For the same reason the encoder convolutions and the
postnet are masked after every layer: in a padded batch an item then sees exactly the zero
padding it would see alone.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchaudio.models import Tacotron2

__all__ = [
    "DecodedItem",
    "Tacotron2Params",
    "build_tacotron2",
    "decode_batch",
    "params_from_state_dict",
]

# Prenet masks are drawn this many decoder steps at a time. The chunk shape is fixed so that
# the random stream of an item never depends on how long the batch runs.
_MASK_CHUNK_STEPS = 64
# Of the decoder state, the attention weights and their running sum (places 4 and 5) run over
# the memory's time axis; the rest has one row per item only.
_STATE_OVER_TIME = (4, 5)


@dataclass(frozen=True)
class Tacotron2Params:
    """Constructor arguments of ``torchaudio.models.Tacotron2`` that shape its weights.

    Defaults are the published LJSpeech models (NVIDIA/tacotron2 ``hparams.py`` and
    torchaudio's ``_get_taco_params``); they differ only in ``n_symbol`` (148 vs 38).
    """

    n_mels: int = 80
    n_symbol: int = 148
    n_frames_per_step: int = 1
    symbol_embedding_dim: int = 512
    encoder_embedding_dim: int = 512
    encoder_n_convolution: int = 3
    encoder_kernel_size: int = 5
    decoder_rnn_dim: int = 1024
    attention_rnn_dim: int = 1024
    attention_hidden_dim: int = 128
    attention_location_n_filter: int = 32
    attention_location_kernel_size: int = 31
    prenet_dim: int = 256
    postnet_n_convolution: int = 5
    postnet_kernel_size: int = 5
    postnet_embedding_dim: int = 512


def build_tacotron2(params: Tacotron2Params, gate_threshold: float = 0.5) -> Tacotron2:
    """A torchaudio Tacotron2 with the given shape, in eval mode (random weights)."""
    kwargs = {f.name: getattr(params, f.name) for f in fields(params)}
    model = Tacotron2(gate_threshold=gate_threshold, **kwargs)
    return model.eval()


def _count(state: Mapping[str, Tensor], prefix: str, suffix: str) -> int:
    n = 0
    while f"{prefix}{n}{suffix}" in state:
        n += 1
    return n


def params_from_state_dict(state: Mapping[str, Tensor]) -> Tacotron2Params:
    """Read the network's dimensions off a state dict in torchaudio's naming.

    Raises ``KeyError`` if a tensor needed to infer a dimension is absent; the caller turns
    that into a ``CheckpointError`` that names the file.
    """
    emb = state["embedding.weight"]  # (n_symbol, symbol_embedding_dim)
    enc_conv = state["encoder.convolutions.0.0.weight"]  # (emb, emb, kernel)
    prenet0 = state["decoder.prenet.layers.0.weight"]  # (prenet_dim, n_mels * frames_per_step)
    att_rnn = state["decoder.attention_rnn.weight_hh"]  # (4 * attention_rnn_dim, attention_rnn_dim)
    dec_rnn = state["decoder.decoder_rnn.weight_hh"]  # (4 * decoder_rnn_dim, decoder_rnn_dim)
    query = state["decoder.attention_layer.query_layer.weight"]  # (att_hidden, att_rnn_dim)
    loc_conv = state["decoder.attention_layer.location_layer.location_conv.weight"]  # (f, 2, k)
    post0 = state["postnet.convolutions.0.0.weight"]  # (post_emb, n_mels, kernel)
    n_mels = post0.shape[1]
    return Tacotron2Params(
        n_mels=n_mels,
        n_symbol=emb.shape[0],
        n_frames_per_step=max(1, prenet0.shape[1] // n_mels),
        symbol_embedding_dim=emb.shape[1],
        encoder_embedding_dim=enc_conv.shape[0],
        encoder_n_convolution=_count(state, "encoder.convolutions.", ".0.weight"),
        encoder_kernel_size=enc_conv.shape[2],
        decoder_rnn_dim=dec_rnn.shape[1],
        attention_rnn_dim=att_rnn.shape[1],
        attention_hidden_dim=query.shape[0],
        attention_location_n_filter=loc_conv.shape[0],
        attention_location_kernel_size=loc_conv.shape[2],
        prenet_dim=prenet0.shape[0],
        postnet_n_convolution=_count(state, "postnet.convolutions.", ".0.weight"),
        postnet_kernel_size=post0.shape[2],
        postnet_embedding_dim=post0.shape[0],
    )


@dataclass
class DecodedItem:
    """One item's decoder output.

    ``mel``: ``(n_mels, frames)`` log-mel after the postnet (on the model's device);
    ``stopped``: the stop token fired (or ``ignore_stop_token`` was set) before the limit.
    """

    mel: Tensor
    stopped: bool

    @property
    def frames(self) -> int:
        return int(self.mel.shape[-1])


def _length_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(batch, max_len)`` bool, True on valid positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def _encode(model: Tacotron2, tokens: Tensor, lengths: Tensor) -> Tensor:
    """Encoder outputs ``(batch, max_len, encoder_embedding_dim)`` for padded ``tokens``.

    ``tokens``: ``(batch, max_len)`` sorted by decreasing length. Padding is zeroed before each
    convolution so every item is encoded exactly as if it were alone.
    """
    valid = _length_mask(lengths, tokens.shape[1])[:, None, :]
    x = model.embedding(tokens).transpose(1, 2)
    for conv in model.encoder.convolutions:
        x = F.relu(conv(x * valid))
    x = x.transpose(1, 2)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True)
    out, _ = model.encoder.lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


def _postnet(model: Tacotron2, mel: Tensor, lengths: Tensor) -> Tensor:
    """``mel + postnet(mel)`` for ``(batch, n_mels, frames)``, masked after every layer."""
    valid = _length_mask(lengths, mel.shape[2])[:, None, :].to(mel.dtype)
    x = mel * valid
    convs = model.postnet.convolutions
    for i, conv in enumerate(convs):
        x = conv(x)
        if i < len(convs) - 1:
            x = torch.tanh(x)
        x = x * valid
    return mel + x


class _PrenetMasks:
    """Per-item dropout masks for the prenet, drawn from per-item generators.

    A mask is 0 or 2 (dropout with p = 0.5 scales the kept units by 1 / (1 - p)).
    """

    def __init__(self, seeds: Sequence[int], layer_sizes: Sequence[int], device: torch.device):
        self.generators = []
        for seed in seeds:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(seed))
            self.generators.append(gen)
        self.layer_sizes = list(layer_sizes)
        self.width = max(self.layer_sizes)
        self.device = device
        self.chunk: Tensor | None = None  # (active, chunk_steps, n_layers, width)

    def refill(self, active: Tensor) -> None:
        draws = [
            torch.rand(
                (_MASK_CHUNK_STEPS, len(self.layer_sizes), self.width),
                generator=self.generators[int(i)],
            )
            for i in active.tolist()
        ]
        self.chunk = (torch.stack(draws) < 0.5).to(self.device, torch.float32) * 2.0

    def keep(self, rows: Tensor) -> None:
        if self.chunk is not None:
            self.chunk = self.chunk.index_select(0, rows)

    def at(self, step: int, layer: int) -> Tensor:
        assert self.chunk is not None
        return self.chunk[:, step % _MASK_CHUNK_STEPS, layer, : self.layer_sizes[layer]]


# --- One decoder step with oneDNN matrix kernels (CPU) ---------------------------------------
#
# On the CPU, PyTorch's float32 ``linear`` goes to MKL, which on AMD processors runs its AVX2
# code; oneDNN's packed-weight kernels use AVX-512 and were ~3x faster for the decoder's
# (batch x 1792) @ (1792 x 4096) products (benchmarks/synthesis.py). The step below is the
# arithmetic of torchaudio's ``_Decoder.decode`` with the same weights; the only change is that
# each LSTM cell's two products (input and hidden) become one product over the concatenated
# weights, and the mel projection and the stop-token layer share one product.


@functools.cache
def onednn_linear_available() -> bool:
    """True when this PyTorch build has oneDNN's packed linear kernels (CPU, USE_MKLDNN)."""
    try:
        weight = torch.ops.mkldnn._reorder_linear_weight(torch.ones(2, 3), 1)
        out = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 3), weight, None, "none", [], "")
        return bool(torch.allclose(out, torch.full((1, 2), 3.0)))
    except (AttributeError, RuntimeError):
        return False


class _Linear:
    """``F.linear`` with a fixed weight, through oneDNN's packed kernels when asked."""

    def __init__(self, weight: Tensor, bias: Tensor | None, onednn: bool) -> None:
        self.onednn = onednn
        self.bias = None if bias is None else bias.detach().contiguous()
        weight = weight.detach().contiguous()
        # The batch-size hint only tunes the packed layout; any batch size works.
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, 32) if onednn else weight

    def __call__(self, x: Tensor) -> Tensor:
        if self.onednn:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


def _lstm_cell(gates: Tensor, cell: Tensor) -> tuple[Tensor, Tensor]:
    """``nn.LSTMCell``'s update from pre-activation gates (input, forget, cell, output)."""
    i, f, g, o = gates.chunk(4, dim=1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


class _FusedDecoderStep:
    """torchaudio ``_Decoder.decode`` (eval mode) with concatenated-weight products."""

    def __init__(self, decoder: nn.Module, onednn: bool) -> None:
        def lstm(cell: nn.LSTMCell) -> _Linear:
            weight = torch.cat([cell.weight_ih, cell.weight_hh], dim=1)
            return _Linear(weight, cell.bias_ih + cell.bias_hh, onednn)

        self.n_mels = decoder.n_mels
        self.prenet = [_Linear(layer.weight, layer.bias, onednn) for layer in decoder.prenet.layers]
        self.attention_rnn = lstm(decoder.attention_rnn)
        self.decoder_rnn = lstm(decoder.decoder_rnn)
        attention = decoder.attention_layer
        self.query = _Linear(attention.query_layer.weight, None, onednn)
        self.location_layer = attention.location_layer
        self.v = attention.v
        self.output = _Linear(
            torch.cat([decoder.linear_projection.weight, decoder.gate_layer.weight]),
            torch.cat([decoder.linear_projection.bias, decoder.gate_layer.bias]),
            onednn,
        )
        self.source = _weights_signature(decoder)

    def __call__(
        self,
        prenet_out: Tensor,
        att_h: Tensor,
        att_c: Tensor,
        dec_h: Tensor,
        dec_c: Tensor,
        att_w: Tensor,
        att_w_cum: Tensor,
        att_ctx: Tensor,
        memory: Tensor,
        processed_memory: Tensor,
        pad_mask: Tensor,
    ) -> tuple[Tensor, ...]:
        att_h, att_c = _lstm_cell(
            self.attention_rnn(torch.cat((prenet_out, att_ctx, att_h), dim=1)), att_c
        )
        query = self.query(att_h).unsqueeze(1)
        location = self.location_layer(torch.stack((att_w, att_w_cum), dim=1))
        energies = self.v(torch.tanh(query + location + processed_memory)).squeeze(2)
        att_w = F.softmax(energies.masked_fill(pad_mask, -float("inf")), dim=1)
        att_ctx = torch.bmm(att_w.unsqueeze(1), memory).squeeze(1)
        att_w_cum = att_w_cum + att_w
        dec_h, dec_c = _lstm_cell(
            self.decoder_rnn(torch.cat((att_h, att_ctx, dec_h), dim=1)), dec_c
        )
        out = self.output(torch.cat((dec_h, att_ctx), dim=1))
        mel, gate = out[:, : self.n_mels], out[:, self.n_mels :]
        return mel, gate, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, att_ctx


def _weights_signature(module: nn.Module) -> tuple[tuple[int, int], ...]:
    return tuple((p.data_ptr(), p._version) for p in module.parameters())


# Packed weights per model, rebuilt when the model's parameters move or change.
_FUSED_STEPS: weakref.WeakKeyDictionary[nn.Module, _FusedDecoderStep] = weakref.WeakKeyDictionary()


def _fused_step(decoder: nn.Module, onednn: bool) -> _FusedDecoderStep:
    step = _FUSED_STEPS.get(decoder)
    if step is None or step.source != _weights_signature(decoder) or (step.output.onednn != onednn):
        with torch.inference_mode():
            step = _FusedDecoderStep(decoder, onednn)
        _FUSED_STEPS[decoder] = step
    return step


def decode_batch(
    model: Tacotron2,
    tokens: Sequence[Sequence[int]],
    seeds: Sequence[int],
    step_limits: Sequence[int],
    *,
    gate_threshold: float = 0.5,
    ignore_stop_token: bool = False,
    kernels: str = "auto",
) -> list[DecodedItem]:
    """Decode several token sequences together; one ``DecodedItem`` per input, in input order.

    Each item stops when its stop token's probability exceeds ``gate_threshold`` (that frame is
    kept, as in torchaudio and NVIDIA) or when it reaches its own ``step_limits[i]``; with
    ``ignore_stop_token`` every item runs exactly its limit. Finished items leave the batch
    so the remaining ones run on fewer rows. Call under ``torch.inference_mode()``.

    ``kernels``: ``"torchaudio"`` runs torchaudio's ``_Decoder.decode`` for each step;
    ``"fused"`` the same arithmetic with concatenated weights (``_FusedDecoderStep``);
    ``"onednn"`` the fused step on oneDNN's packed CPU kernels. ``"auto"`` picks ``"onednn"``
    for float32 on a CPU that has them, else ``"torchaudio"`` (CUDA, autocast).
    """
    n = len(tokens)
    if not (n == len(seeds) == len(step_limits)):
        raise ValueError("tokens, seeds and step_limits must have the same length")
    if n == 0:
        return []
    if any(len(t) == 0 for t in tokens):
        raise ValueError("every item needs at least one symbol")
    if model.n_frames_per_step != 1:
        raise ValueError("only n_frames_per_step == 1 is supported (as in torchaudio)")
    device = model.embedding.weight.device
    decoder = model.decoder
    n_mels = model.n_mels
    if kernels == "auto":
        cpu_fp32 = (
            device.type == "cpu"
            and model.embedding.weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        )
        kernels = "onednn" if cpu_fp32 and onednn_linear_available() else "torchaudio"
    if kernels == "torchaudio":
        step_fn = decoder.decode
        prenet_layers: list = list(decoder.prenet.layers)
    elif kernels in ("fused", "onednn"):
        fused = _fused_step(decoder, onednn=kernels == "onednn")
        step_fn = fused
        prenet_layers = fused.prenet
    else:
        raise ValueError(f"kernels must be auto, torchaudio, fused or onednn, not {kernels!r}")

    # pack_padded_sequence wants the longest item first.
    order = sorted(range(n), key=lambda i: -len(tokens[i]))
    lengths = torch.tensor([len(tokens[i]) for i in order], device=device)
    padded = torch.zeros((n, int(lengths[0])), dtype=torch.long, device=device)
    for row, i in enumerate(order):
        padded[row, : len(tokens[i])] = torch.as_tensor(tokens[i], device=device)
    limits = torch.tensor([int(step_limits[i]) for i in order], device=device)
    max_steps = int(limits.max())

    memory = _encode(model, padded, lengths)
    # The decoder's recurrent state in torchaudio's order: the attention LSTM's h and c, the
    # decoder LSTM's h and c, the attention weights, their running sum and the context.
    *state, processed_memory = decoder._initialize_decoder_states(memory)
    pad_mask = ~_length_mask(lengths, memory.shape[1])  # True on padding, as torchaudio wants
    frame = torch.zeros((n, n_mels), dtype=memory.dtype, device=device)

    prenet_sizes = [layer.out_features for layer in decoder.prenet.layers]
    masks = _PrenetMasks([seeds[i] for i in order], prenet_sizes, device)
    out = torch.zeros((n, max_steps, n_mels), dtype=torch.float32, device=device)
    frames = torch.zeros(n, dtype=torch.long)
    stopped = torch.zeros(n, dtype=torch.bool)
    active = torch.arange(n)  # rows of the original (sorted) batch still decoding
    active_dev = active.to(device)
    act_lengths = lengths.clone()

    for step in range(max_steps):
        if step % _MASK_CHUNK_STEPS == 0:
            masks.refill(active)
        x = frame
        for layer_index, layer in enumerate(prenet_layers):
            x = F.relu(layer(x)) * masks.at(step, layer_index).to(x.dtype)
        mel_out, gate_out, *state = step_fn(x, *state, memory, processed_memory, pad_mask)
        out[active_dev, step] = mel_out.float()
        frames[active] += 1
        reached_limit = (limits.index_select(0, active_dev) <= step + 1).cpu()
        if ignore_stop_token:
            done = reached_limit
            stopped[active[done]] = True
        else:
            fired = (torch.sigmoid(gate_out.float().squeeze(1)) > gate_threshold).cpu()
            stopped[active[fired]] = True
            done = fired | reached_limit
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            keep_dev = keep.to(device)
            active = active[keep]
            active_dev = active.to(device)
            masks.keep(keep)
            act_lengths = act_lengths.index_select(0, keep_dev)
            # Drop padding that no remaining item needs (the softmax gives it zero weight).
            t_max = int(act_lengths.max())
            state = [
                t.index_select(0, keep_dev)[:, :t_max]
                if k in _STATE_OVER_TIME
                else t.index_select(0, keep_dev)
                for k, t in enumerate(state)
            ]
            pad_mask = pad_mask.index_select(0, keep_dev)[:, :t_max]
            memory = memory.index_select(0, keep_dev)[:, :t_max]
            processed_memory = processed_memory.index_select(0, keep_dev)[:, :t_max]
            mel_out = mel_out.index_select(0, keep_dev)
        frame = mel_out

    mel_lengths = frames.to(device)
    postnet_in = out[:, : int(frames.max())].transpose(1, 2)
    mels = _postnet(model, postnet_in.to(memory.dtype), mel_lengths).float()
    results: list[DecodedItem | None] = [None] * n
    for row, i in enumerate(order):
        results[i] = DecodedItem(
            mel=mels[row, :, : int(frames[row])].contiguous(), stopped=bool(stopped[row])
        )
    return results  # type: ignore[return-value]
