"""CPU settings out of the box: torch threads, emulator threads and bf16 chosen from the machine."""

import pytest
import torch
from conftest import ROOT, TINY, fit

import lit_rl
from lit_rl import cpu
from lit_rl.cli import main
from lit_rl.envs import make_vector_env
from lit_rl.networks.float32_head import float32_head
from lit_rl.networks.nature_cnn import NatureCNN


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    assert cpu.has_native_bf16(cpu.cpu_flags(cpuinfo))
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert not cpu.has_native_bf16(cpu.cpu_flags(cpuinfo))  # AVX-512 alone emulates bf16: slower
    assert cpu.has_native_bf16(frozenset({"amx_bf16"}))
    assert cpu.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(("native", "precision"), [(True, "bf16-mixed"), (False, "32-true")])
def test_cpu_precision_follows_native_bf16(monkeypatch, native, precision):
    monkeypatch.setattr(cpu, "has_native_bf16", lambda flags=None: native)
    assert lit_rl.cpu_precision() == precision


def test_threads_are_the_process_share_of_the_cores_unless_omp_num_threads_is_set(monkeypatch):
    monkeypatch.setattr(cpu, "cores_available", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu.threads_per_process(1) == 16
    assert cpu.threads_per_process(4) == 4  # four DDP ranks on this machine
    assert cpu.threads_per_process(32) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu.threads_per_process(4) == 3


def test_cpu_threads_sets_torch_threads_during_fit(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)  # keeps the test process's own setting
    agent = lit_rl.PPO(env_id="CartPole-v1", num_envs=2, num_steps=8, total_env_steps=16, **TINY)
    fit(agent, callbacks=[lit_rl.CpuThreads(torch_threads=3)])
    assert calls == [3]
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    fit(lit_rl.PPO(env_id="CartPole-v1", num_envs=2, num_steps=8, total_env_steps=16, **TINY))
    assert calls == [3, 2], "the module's default CpuThreads should follow OMP_NUM_THREADS"


def test_cpu_threads_rejects_a_non_positive_count():
    with pytest.raises(ValueError, match=r"torch_threads=0 is invalid: it must be > 0"):
        lit_rl.CpuThreads(torch_threads=0)


def test_atari_emulator_threads_default_to_the_given_share_and_env_kwargs_win(monkeypatch):
    seen = []
    from ale_py import vector_env

    real = vector_env.AtariVectorEnv

    def spy(*args, **kwargs):
        seen.append(kwargs["num_threads"])
        return real(*args, **kwargs)

    monkeypatch.setattr(vector_env, "AtariVectorEnv", spy)
    make_vector_env("PongNoFrameskip-v4", 2, num_threads=3).close()
    make_vector_env("PongNoFrameskip-v4", 2, {"num_threads": 1}, num_threads=3).close()
    assert seen == [3, 1]


def test_float32_heads_keep_q_value_gaps_that_bf16_would_erase():
    head = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    features = torch.tensor([[0.5, 0.5009]])  # one bf16 step at 0.5 is 2**-9 = 0.00195
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert head(features).argmax().item() == 0, "bf16 rounds both values to 0.5 (the argmax is a tie)"
        q = float32_head(head, features)
    assert q.dtype == torch.float32 and q.argmax().item() == 1


def test_nature_cnn_under_autocast_returns_float32_values():
    net = NatureCNN(4, 6)
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(obs)
    assert out.dtype == torch.float32
    assert torch.allclose(out, net(obs), atol=0.05), "bf16 trunk, float32 head: close to the float32 network"


def cli_precision(monkeypatch, precision_of_cpu, *args):
    monkeypatch.setattr("lit_rl.cli.cpu_precision", lambda: precision_of_cpu)
    config = ["--config", str(ROOT / "configs/ppo_pong.yaml"), "--trainer.logger", "false", *args]
    return main(config, run=False).trainer.precision


def test_auto_cpu_precision_chooses_from_the_cpu_unless_precision_is_set(monkeypatch):
    assert cli_precision(monkeypatch, "bf16-mixed") == "bf16-mixed"  # the Pong configs turn it on
    assert cli_precision(monkeypatch, "32-true") == "32-true"
    assert cli_precision(monkeypatch, "bf16-mixed", "--trainer.precision", "32-true") == "32-true"
    assert cli_precision(monkeypatch, "bf16-mixed", "--auto_cpu_precision", "false") == "32-true"


def test_configs_without_auto_cpu_precision_keep_float32(monkeypatch):
    monkeypatch.setattr("lit_rl.cli.cpu_precision", lambda: "bf16-mixed")
    cli = main(["--config", str(ROOT / "configs/dqn_cartpole.yaml"), "--trainer.logger", "false"], run=False)
    assert cli.trainer.precision == "32-true"
