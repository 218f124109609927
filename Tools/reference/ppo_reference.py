#!/usr/bin/env python3
"""float64 numpy reference for one PPO batch: per-token rewards, GAE, whitening and the clipped losses.

Written from TRL's PPOTrainer (trl/trainer/ppo_trainer.py, the "PPOv2" loop), independently of EdgeTune's Swift:

    kl_t              = logprob_t − ref_logprob_t                       (the sampled k1 estimate, per token)
    reward_t          = −kl_coef · kl_t,  plus the score on the last answer token
    δ_t               = reward_t + γ · V_{t+1} − V_t                    (V after the last token is 0)
    A_t               = δ_t + γλ · A_{t+1},   R_t = A_t + V_t           (returns use the raw advantages)
    Â                 = (A − mean) / sqrt(var + 1e-8) over every token of the batch, var unbiased (masked_whiten)
    ratio_t           = exp(new_logprob_t − logprob_t)
    pg_t              = max(−Â_t · ratio_t, −Â_t · clip(ratio_t, 1 − ε, 1 + ε))
    v_clip_t          = clip(v_t, V_t − ε_v, V_t + ε_v)
    vf_t              = ½ · max((v_t − R_t)², (v_clip_t − R_t)²)
    loss              = mean_t pg_t + vf_coef · mean_t vf_t             (means over the minibatch's answer tokens)
    clip_fraction     = mean_t [−Â·clip(ratio) > −Â·ratio],  approx_kl = mean_t ½ (new_logprob − logprob)²

plus the gradients of `loss` with respect to each new log-probability and value (the branch taken by the max gets
the gradient, clip passes it inside its range and 0 outside, as torch's autograd does), checked here by central
finite differences.

The inputs are three answers of 4, 2 and 5 tokens drawn from a seeded generator, with the policy's new
log-probabilities and values shifted far enough that every branch occurs (both clipped policy sides, the unclipped
side, the clipped value loss); the script asserts that they do. Minibatches: rollouts [2, 0] then [1].

Usage:
  python3 ppo_reference.py [--write]     (without --write: prints the golden and checks the gradients only)
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(REPO, "Tests", "TrainingTests", "Fixtures", "ppo_golden.json")

OPTIONS = {"kl_coef": 0.05, "gamma": 0.95, "lambda": 0.9, "clip": 0.2, "value_clip": 0.2, "vf_coef": 0.1}
LENGTHS = [4, 2, 5]
MINIBATCHES = [[2, 0], [1]]


def inputs(seed: int = 22) -> list[dict]:
    rng = np.random.default_rng(seed)
    rollouts = []
    for n in LENGTHS:
        logprob = -rng.uniform(0.1, 4.0, n)
        ref = logprob + rng.normal(0, 0.3, n)
        values = rng.normal(0, 0.5, n)
        # Ratios e^{±0.6} leave the ±20 % range on both sides; e^{±0.05} stay inside it.
        new_logprob = logprob + rng.choice([-0.6, -0.05, 0.05, 0.6], n)
        new_values = values + rng.choice([-0.5, -0.1, 0.1, 0.5], n)
        rollouts.append({
            "old_log_probabilities": logprob.tolist(),
            "reference_log_probabilities": ref.tolist(),
            "old_values": values.tolist(),
            "score": float(rng.normal(0.5, 1.0)),
            "new_log_probabilities": new_logprob.tolist(),
            "new_values": new_values.tolist(),
        })
    return rollouts


def rewards(r: dict, kl_coef: float) -> np.ndarray:
    kl = np.array(r["old_log_probabilities"]) - np.array(r["reference_log_probabilities"])
    out = -kl_coef * kl
    out[-1] += r["score"]
    return out


def gae(reward: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(reward)
    advantages = np.zeros(n)
    last = 0.0
    for t in reversed(range(n)):
        next_value = values[t + 1] if t + 1 < n else 0.0
        delta = reward[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        advantages[t] = last
    return advantages, advantages + values


def whiten(sequences: list[np.ndarray]) -> list[np.ndarray]:
    flat = np.concatenate(sequences)
    mean = flat.mean()
    var = flat.var(ddof=1)
    return [(s - mean) / np.sqrt(var + 1e-8) for s in sequences]


def minibatch_loss(members: list[dict], o: dict, new_logprobs: list[np.ndarray], new_values: list[np.ndarray]):
    """The minibatch's loss, its metrics and the gradients of the loss w.r.t. every new log-prob and value."""
    logp = np.concatenate(new_logprobs)
    v = np.concatenate(new_values)
    old = np.concatenate([np.array(m["old_log_probabilities"]) for m in members])
    adv = np.concatenate([m["whitened"] for m in members])
    old_v = np.concatenate([np.array(m["old_values"]) for m in members])
    ret = np.concatenate([m["returns"] for m in members])
    n = len(logp)
    eps, eps_v, c = o["clip"], o["value_clip"], o["vf_coef"]

    ratio = np.exp(logp - old)
    pg1 = -adv * ratio
    bounded = np.clip(ratio, 1 - eps, 1 + eps)
    pg2 = -adv * bounded
    clipped = pg2 > pg1
    pg = np.maximum(pg1, pg2)
    inside = (ratio > 1 - eps) & (ratio < 1 + eps)
    d_pg = np.where(clipped, np.where(inside, -adv * ratio, 0.0), -adv * ratio)

    v_clip = np.clip(v, old_v - eps_v, old_v + eps_v)
    vf1 = (v - ret) ** 2
    vf2 = (v_clip - ret) ** 2
    value_clipped = vf2 > vf1
    vf = 0.5 * np.maximum(vf1, vf2)
    v_inside = (v > old_v - eps_v) & (v < old_v + eps_v)
    d_vf = np.where(value_clipped, np.where(v_inside, v_clip - ret, 0.0), v - ret)

    result = {
        "loss": pg.mean() + c * vf.mean(),
        "policy_loss": pg.mean(),
        "value_loss": vf.mean(),
        "clip_fraction": clipped.mean(),
        "approx_kl": (0.5 * (logp - old) ** 2).mean(),
        "log_probability_gradients": (d_pg / n).tolist(),
        "value_gradients": (c * d_vf / n).tolist(),
    }
    branches = {
        "policy_unclipped": int((~clipped).sum()),
        "policy_clipped_flat": int((clipped & ~inside).sum()),
        "value_clipped_flat": int((value_clipped & ~v_inside).sum()),
    }
    return result, branches


def check_gradients(members: list[dict], o: dict, logps: list[np.ndarray], vs: list[np.ndarray], result: dict):
    """Central differences of the loss against the analytic gradients, every token (no input sits at a kink)."""
    h = 1e-6
    flat_g = result["log_probability_gradients"] + result["value_gradients"]
    k = 0
    for which in (logps, vs):
        for i, seq in enumerate(which):
            for t in range(len(seq)):
                seq[t] += h
                plus = minibatch_loss(members, o, logps, vs)[0]["loss"]
                seq[t] -= 2 * h
                minus = minibatch_loss(members, o, logps, vs)[0]["loss"]
                seq[t] += h
                numeric = (plus - minus) / (2 * h)
                assert abs(numeric - flat_g[k]) < 1e-7, (numeric, flat_g[k])
                k += 1


def golden() -> dict:
    o = OPTIONS
    rollouts = inputs()
    raw = []
    for r in rollouts:
        r["rewards"] = rewards(r, o["kl_coef"])
        a, ret = gae(r["rewards"], np.array(r["old_values"]), o["gamma"], o["lambda"])
        raw.append(a)
        r["advantages"] = a
        r["returns"] = ret
        r["kl"] = float(np.sum(np.array(r["old_log_probabilities"]) - np.array(r["reference_log_probabilities"])))
    for r, w in zip(rollouts, whiten(raw)):
        r["whitened"] = w
    minibatches = []
    totals = {"policy_unclipped": 0, "policy_clipped_flat": 0, "value_clipped_flat": 0}
    for members in MINIBATCHES:
        chosen = [rollouts[i] for i in members]
        logps = [np.array(m["new_log_probabilities"]) for m in chosen]
        vs = [np.array(m["new_values"]) for m in chosen]
        result, branches = minibatch_loss(chosen, o, logps, vs)
        check_gradients(chosen, o, logps, vs, result)
        for key in totals:
            totals[key] += branches[key]
        minibatches.append({"members": members, **result})
    assert all(count > 0 for count in totals.values()), f"a branch never occurs: {totals}"
    n = len(rollouts)
    batch = {
        "kl": sum(r["kl"] for r in rollouts) / n,
        "non_score_reward": -o["kl_coef"] * sum(r["kl"] for r in rollouts) / n,
        "score": sum(r["score"] for r in rollouts) / n,
    }
    for r in rollouts:
        for key in ("rewards", "advantages", "returns", "whitened"):
            r[key] = r[key].tolist()
    return {"options": o, "rollouts": rollouts, "batch": batch, "minibatches": minibatches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {os.path.relpath(GOLDEN, REPO)}")
    args = parser.parse_args()
    result = golden()
    text = json.dumps(result, indent=1) + "\n"
    if args.write:
        with open(GOLDEN, "w") as f:
            f.write(text)
        print(f"wrote {GOLDEN}")
    else:
        print(text)


if __name__ == "__main__":
    main()
