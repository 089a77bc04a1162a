"""Factorised Gaussian noisy linear layers, from Fortunato et al. (2018), "Noisy Networks for Exploration"."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_rl.checks import check_positive


def scaled_noise(noise: Tensor) -> Tensor:
    """``f(x) = sign(x) * sqrt(|x|)``, the paper's transform of standard normal noise."""
    return noise.sign() * noise.abs().sqrt()


class NoisyLinear(nn.Module):
    """``y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b``, with learned ``mu`` and ``sigma``.

    Factorised noise: ``p`` input and ``q`` output noise variables (not ``p * q``), with
    ``eps_w = f(eps_out) f(eps_in)^T`` and ``eps_b = f(eps_out)``. Initialised as in the paper:
    ``mu ~ U[-1/sqrt(p), 1/sqrt(p)]`` and ``sigma = sigma0 / sqrt(p)``.

    The noise is a buffer: it changes only when :func:`reset_noise` is called, so one sample can
    serve a whole round of acting, and it is saved in checkpoints. In eval mode
    (``module.eval()``), or inside :func:`noise_disabled`, the layer uses the mean weights
    ``mu`` only.

    Args:
        in_features: size of each input sample (``p``).
        out_features: size of each output sample (``q``).
        sigma0: initial noise scale; 0.5 in the paper and in Rainbow (Hessel et al. 2018).
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        check_positive("sigma0", sigma0)
        self.in_features, self.out_features, self.sigma0 = in_features, out_features, sigma0
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_mu = nn.Parameter(torch.empty(out_features))
        self.bias_sigma = nn.Parameter(torch.empty(out_features))
        # f(eps_in) and f(eps_out): p + q numbers, from which the p * q weight noise is an outer product.
        self.register_buffer("input_noise", torch.zeros(in_features))
        self.register_buffer("output_noise", torch.zeros(out_features))
        self.noise_enabled = True
        self.reset_parameters()
        self.reset_noise()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight_mu.uniform_(-bound, bound)
            self.bias_mu.uniform_(-bound, bound)
            self.weight_sigma.fill_(self.sigma0 * bound)
            self.bias_sigma.fill_(self.sigma0 * bound)

    @torch.no_grad()
    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draw new noise: from ``generator`` when given (on its device, then moved), else torch's default."""
        device = self.input_noise.device if generator is None else generator.device
        noise = torch.randn(self.in_features + self.out_features, generator=generator, device=device)
        noise = scaled_noise(noise).to(self.input_noise.device)
        self.input_noise.copy_(noise[: self.in_features])
        self.output_noise.copy_(noise[self.in_features :])

    @property
    def noisy(self) -> bool:
        """Whether ``forward`` adds noise: in train mode, unless the noise is disabled."""
        return self.training and self.noise_enabled

    def weight_and_bias(self) -> tuple[Tensor, Tensor]:
        """The weights ``forward`` uses now: noisy ones, or the means."""
        if not self.noisy:
            return self.weight_mu, self.bias_mu
        # Built once per call (p * q multiply-adds), cheaper than a second matmul over the batch.
        weight = torch.addcmul(self.weight_mu, self.weight_sigma, torch.outer(self.output_noise, self.input_noise))
        return weight, torch.addcmul(self.bias_mu, self.bias_sigma, self.output_noise)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, *self.weight_and_bias())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, sigma0={self.sigma0}"


def noisy_layers(module: nn.Module) -> Iterator[NoisyLinear]:
    """The NoisyLinear layers in ``module``, in ``module.modules()`` order."""
    return (layer for layer in module.modules() if isinstance(layer, NoisyLinear))


def reset_noise(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Resample the noise of every NoisyLinear layer in ``module`` (a no-op without any).

    With a ``generator`` the draw is reproducible, and the same on every device: the noise is drawn
    on the generator's device and moved to each layer's.
    """
    for layer in noisy_layers(module):
        layer.reset_noise(generator)


@contextlib.contextmanager
def noise_disabled(module: nn.Module) -> Iterator[None]:
    """Within the block, every NoisyLinear layer of ``module`` uses its mean weights (e.g. to evaluate)."""
    layers = list(noisy_layers(module))
    previous = [layer.noise_enabled for layer in layers]
    for layer in layers:
        layer.noise_enabled = False
    try:
        yield
    finally:
        for layer, enabled in zip(layers, previous, strict=True):
            layer.noise_enabled = enabled


def linear_layer(noisy: bool, sigma0: float = 0.5) -> Callable[[int, int], nn.Module]:
    """A constructor ``(in_features, out_features) -> layer``: NoisyLinear if ``noisy``, else nn.Linear."""
    if noisy:
        return lambda in_features, out_features: NoisyLinear(in_features, out_features, sigma0)
    return nn.Linear
