"""Mixed precision: every forward pass in a training_step uses the weights as the last optimizer step left them.

lit_rl's modules take several optimizer steps in one ``training_step`` (PPO's epochs and minibatches, a
round's gradient steps), which Lightning runs in one autocast region under ``bf16-mixed``/``16-mixed``.
Autocast can cache each weight's low-precision copy for a whole region; an optimizer step inside the region
would then leave later forward passes on the old weights (PPO's ratios would stay 1, its clipping idle).
Lightning opens the region with ``cache_enabled=False``, so each pass casts afresh; this test guards that.
"""

import lightning as L
import torch
from conftest import TINY, fit

import lit_rl


def test_each_ppo_minibatch_under_bf16_trains_on_the_weights_of_the_moment():
    L.seed_everything(0, verbose=False)
    agent = lit_rl.PPO(
        "CartPole-v1", num_envs=2, num_steps=32, total_env_steps=64, update_epochs=2, num_minibatches=2,
        learning_rate=0.1, **TINY,  # steps large enough to change the weights' bf16 values
    )
    calls, stale = [], []

    def compare_with_a_fresh_cast(layer, inputs, output):
        if torch.is_grad_enabled():  # a training pass (acting runs under inference_mode)
            fresh = torch.nn.functional.linear(inputs[0], layer.weight.detach().clone(), layer.bias.detach().clone())
            calls.append(layer)
            if not torch.equal(output, fresh):
                stale.append(layer)

    class HookLinearLayers(L.Callback):
        def on_fit_start(self, trainer, pl_module):
            for layer in pl_module.policy.modules():
                if isinstance(layer, torch.nn.Linear):
                    layer.register_forward_hook(compare_with_a_fresh_cast)

    trainer = fit(agent, precision="bf16-mixed", callbacks=[HookLinearLayers()])
    assert trainer.global_step == 2 * 2 and calls
    assert not stale, f"{len(stale)} of {len(calls)} layer calls used weights from before an optimizer step"
