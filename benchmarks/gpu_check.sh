#!/usr/bin/env bash
# lit_rl's checks on a GPU machine (written for the device tool's H200 with 16 CPU cores), in < 10 minutes.
#
# Here, once:   bash benchmarks/gpu_wheels.sh         (gymnasium, ale-py, jsonargparse as wheels in .whl/)
# There:        device run, carry [".whl"], command "bash benchmarks/gpu_check.sh", timeout_s 600
# Anywhere:     GPU_CHECK_SECONDS=300 bash benchmarks/gpu_check.sh   (default 500; OUT defaults to ./gpu_check_out)
# Dry run on a CPU machine (checks the script, not CUDA): GPU_CHECK_ACCELERATOR=cpu bash benchmarks/gpu_check.sh
# Only some parts: GPU_CHECK_PARTS="pong" bash benchmarks/gpu_check.sh    (default "tests paths overlap pong"; Pong
# then trains for nearly all of the budget, which the 20-in-10-minutes goal needs)
#
# 1. the test suite on CUDA (Lightning's accelerator "auto" picks the GPU);
# 2. the CUDA paths: DQN and PPO on CartPole with 16-mixed and bf16-mixed, pinned replay batches, and a
#    one-GPU ddp run (NCCL);
# 3. PPO Pong's env steps/s with 32 envs, collected synchronously and with overlap_env_steps (the policy
#    acts on the GPU for one half of the envs while the other half emulates), ~1.5 minutes;
# 4. PPO on Pong with settings for 16 cores (32 envs) for the time left: env steps/s, the curve, and the
#    env steps and minutes to a training return of 0/+18 and a greedy evaluation of 0/18/20.
# Everything lands in $OUT (at most 8 files): env.txt, pytest.log, cuda_paths.log, overlap.log, ppo_pong_gpu.log and
# benchmarks/learning_curve.py's ppo_pong_gpu.{csv,png,json}.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
BUDGET=${GPU_CHECK_SECONDS:-500}
export ACCELERATOR=${GPU_CHECK_ACCELERATOR:-gpu}
PARTS=${GPU_CHECK_PARTS:-tests paths overlap pong}
part() { [[ " $PARTS " == *" $1 "* ]]; }
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
export PYTHONUNBUFFERED=1

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
WORK=$(mktemp -d)

python3 - > "$OUT/env.txt" 2>&1 <<'EOF'
import os, platform, torch, lightning, gymnasium, ale_py
print("python", platform.python_version(), "| torch", torch.__version__, "| lightning", lightning.__version__,
      "| gymnasium", gymnasium.__version__, "| ale-py", ale_py.__version__)
print("cuda available:", torch.cuda.is_available(), "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print("cpu cores:", len(os.sched_getaffinity(0)))
EOF
cat "$OUT/env.txt"

if part tests; then
    echo "== 1. test suite on CUDA ($(left) s left)"
    timeout 240 python3 -m pytest -q -x -p no:cacheprovider tests > "$OUT/pytest.log" 2>&1
    echo "pytest exit $? (124: stopped at its 240 s limit); last line: $(tail -n 1 "$OUT/pytest.log")"
fi

fit() {  # fit CONFIG STEPS [ARGS...]: a short run on one GPU, no checkpoints or video
    local config=$1 steps=$2; shift 2
    timeout 120 python3 -m lit_rl fit --config "configs/$config" --trainer.accelerator "$ACCELERATOR" --trainer.devices 1 \
        --trainer.callbacks '[]' --trainer.enable_checkpointing false --trainer.enable_progress_bar false \
        --trainer.default_root_dir "$WORK" --model.total_env_steps "$steps" --model.eval_episodes 2 "$@"
}
part paths && echo "== 2. CUDA paths ($(left) s left)" && {
    for precision in 16-mixed bf16-mixed; do
        fit dqn_cartpole.yaml 3000 --model.learning_starts 1000 --trainer.precision $precision
        echo "RESULT dqn_cartpole $precision exit $?"
        fit ppo_cartpole.yaml 4096 --trainer.precision $precision
        echo "RESULT ppo_cartpole $precision exit $?"
    done
    fit dqn_cartpole.yaml 3000 --model.learning_starts 1000 --trainer.strategy ddp
    echo "RESULT dqn_cartpole ddp-1-gpu (nccl) exit $?"
    fit ppo_cartpole.yaml 4096 --trainer.strategy ddp
    echo "RESULT ppo_cartpole ddp-1-gpu (nccl) exit $?"
    timeout 120 python3 - <<'EOF'
# Replay batches reach the GPU from pinned host memory: the DataLoader pins them, and training steps run.
import os, lightning as L, lit_rl
class Check(L.Callback):
    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.pinned = trainer.train_dataloader.pin_memory
        self.device = batch.obs.device
check = Check()
agent = lit_rl.DQN(env_id="CartPole-v1", total_env_steps=2_000, learning_starts=500, eval_episodes=2)
L.Trainer(accelerator=os.environ["ACCELERATOR"], devices=1, max_epochs=-1, logger=False, enable_checkpointing=False,
          enable_progress_bar=False, callbacks=[check]).fit(agent)
assert check.pinned and check.device.type == "cuda", (check.pinned, check.device)
print("pinned replay batches on", check.device)
EOF
    echo "RESULT pinned replay batches exit $?"
} > "$OUT/cuda_paths.log" 2>&1 && grep RESULT "$OUT/cuda_paths.log"

part overlap && echo "== 3. PPO Pong env steps/s, 32 envs, synchronous vs overlapped collection ($(left) s left)" && {
    for overlap in false true; do
        timeout 100 python3 - "$overlap" <<'EOF'
# Rollouts 3-12 of PPO Pong timed: with overlap, the GPU acts for one half of the envs while the other emulates.
import os, sys, time, lightning as L, lit_rl
overlap = sys.argv[1] == "true"
class Clock(L.Callback):
    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == 2:
            self.start, self.steps = time.perf_counter(), module.env_steps
    def on_train_end(self, trainer, module):
        rate = (module.env_steps - self.steps) / (time.perf_counter() - self.start)
        print(f"RESULT overlap_env_steps={overlap}: {rate:,.0f} env steps/s (rollouts 3-12, 32 envs x 128 steps)")
model = lit_rl.PPO(env_id="PongNoFrameskip-v4", env_kwargs={"reward_clipping": True, "episodic_life": True},
                   num_envs=32, num_steps=128, num_minibatches=4, total_env_steps=12 * 32 * 128,
                   network="nature_cnn", eval_interval=10**9, overlap_env_steps=overlap)
L.Trainer(accelerator=os.environ["ACCELERATOR"], devices=1, max_epochs=-1, logger=False, enable_checkpointing=False,
          enable_progress_bar=False, limit_val_batches=0, callbacks=[Clock()]).fit(model)
EOF
    done
} > "$OUT/overlap.log" 2>&1 && grep RESULT "$OUT/overlap.log"

PONG_SECONDS=$(( $(left) - 25 ))  # the curve and the copy need a few seconds
part pong && echo "== 4. PPO Pong on the GPU for ${PONG_SECONDS} s"
if part pong && [ "$PONG_SECONDS" -gt 60 ]; then
    # 16 cores: 32 envs x 128 steps per rollout (3 epochs of 8 minibatches of 512), the emulators on all cores.
    timeout "$PONG_SECONDS" python3 -m lit_rl fit --config configs/ppo_pong.yaml --trainer.accelerator "$ACCELERATOR" \
        --trainer.devices 1 --trainer.enable_progress_bar false --trainer.default_root_dir "$WORK/pong" \
        --model.num_envs 32 --model.eval_interval 500000 --model.record_video false \
        --model.total_env_steps 10000000 > "$OUT/ppo_pong_gpu.log" 2>&1
    echo "ppo pong exit $? (124: stopped at the time limit, as planned)"
    python3 benchmarks/learning_curve.py "$WORK"/pong/lightning_logs/version_0 --out "$OUT/ppo_pong_gpu" \
        --title "PPO, PongNoFrameskip-v4, one H200 + 16 cores, 32 envs" 2>&1 | tee -a "$OUT/ppo_pong_gpu.log"
fi
echo "done in $(( $(date +%s) - START )) s"
