"""The fast-learning rl tasks' test functions on real dm_control physics: a segment where success
clearly holds passes and one where it clearly fails does not, and the tests agree with the
handcrafted reward (states are set directly through the physics, then stepped with zero action)."""

import numpy as np
import pytest

pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")

from tiltbench.benchmarks.rl import tests as T  # noqa: E402
from tiltbench.benchmarks.rl.env import make_env  # noqa: E402

L = 50  # the track's segment length


def _segment(env, setter, per_step=False, action=None):
    """Reset, set a state with ``setter(physics)``, step ``L`` times; the features and rewards.
    ``per_step``: apply the setter before every step (a driven joint)."""
    env.reset()
    feats, rewards = {}, []
    for i in range(L):
        if i == 0 or per_step:
            with env.physics.reset_context():
                setter(env.physics)
        a = np.zeros(env.action_dim) if action is None else action(i)
        _, r, _, f = env.step(a)
        rewards.append(r)
        for k, v in f.items():
            feats.setdefault(k, []).append(v)
    return {k: np.asarray(v) for k, v in feats.items()}, np.asarray(rewards)


def _cartpole(angle, x=0.0):
    def set_(p):
        p.named.data.qpos["slider"], p.named.data.qpos["hinge_1"] = x, angle
        p.named.data.qvel[:] = 0.0
    return set_


def _ball_in_cup(inside):
    def set_(p):
        p.named.data.qpos["cup_x"] = p.named.data.qpos["cup_z"] = 0.0
        p.named.data.qvel[:] = 0.0
        if not inside:  # hanging at the string's rest position, 0.35 m below the cup's target site
            p.named.data.qpos["ball_x"] = p.named.data.qpos["ball_z"] = 0.0
            return
        for _ in range(3):  # slide the ball onto the cup's target site
            p.forward()
            dx, dz = p.ball_to_target()
            p.named.data.qpos["ball_x"] += dx
            p.named.data.qpos["ball_z"] += dz
    return set_


def _reacher(on_target):
    def set_(p):
        p.forward()
        fx, fy = p.named.data.geom_xpos["finger", ["x", "y"]]
        sign = 1.0 if on_target else -1.0  # the target under the fingertip, or mirrored through the base
        p.named.model.geom_pos["target", "x"], p.named.model.geom_pos["target", "y"] = sign * fx, sign * fy
        p.named.data.qvel[:] = 0.0
    return set_


def _point_mass(x, y):
    def set_(p):
        p.named.data.qpos["root_x"], p.named.data.qpos["root_y"] = x, y
        p.named.data.qvel[:] = 0.0
    return set_


def _finger(velocity):
    def set_(p):
        p.named.data.qvel["hinge"] = velocity
    return set_


# task -> (setter where success clearly holds, where it clearly fails, apply the setter every step)
CASES = {
    "cartpole-balance": (_cartpole(0.0), _cartpole(np.pi), False),
    "ball_in_cup-catch": (_ball_in_cup(True), _ball_in_cup(False), False),
    "reacher-easy": (_reacher(True), _reacher(False), False),
    "point_mass-easy": (_point_mass(0.0, 0.0), _point_mass(0.2, -0.2), False),
    # the spinner's damping stops a free spin within a second: keep it driven at 40 rad/s (or still)
    "finger-spin": (_finger(-40.0), _finger(0.0), True),
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_clear_success_passes_clear_failure_fails_and_the_reward_agrees(task):
    good_set, bad_set, per_step = CASES[task]
    suite, env = T.SUITES[task], make_env(task, seed=0)
    good, good_r = _segment(env, good_set, per_step)
    bad, bad_r = _segment(env, bad_set, per_step)
    assert suite(good)[0].all(), (task, suite(good))
    assert not suite(bad)[0].any(), (task, suite(bad))
    # the handcrafted reward calls the same segments good and bad
    assert good_r.mean() >= 0.8 and bad_r.mean() <= 0.2, (task, good_r.mean(), bad_r.mean())
    # and the indicative tests, higher is better, prefer the good segment on every test
    assert np.all(suite(good)[1] >= suite(bad)[1]) and np.any(suite(good)[1] > suite(bad)[1])


@pytest.mark.parametrize("task", ["ball_in_cup-catch", "reacher-easy", "finger-spin"])
def test_where_the_reward_is_the_success_indicator_pass_is_mean_reward_at_least_08(task):
    """These rewards are dm_control's per-step success indicator itself, so a segment passes exactly
    when its mean reward is >= 0.8: checked on random-action segments plus the clear cases."""
    good_set, bad_set, per_step = CASES[task]
    env, suite = make_env(task, seed=1), T.SUITES[task]
    rng = np.random.default_rng(0)
    segs = [_segment(env, good_set, per_step), _segment(env, bad_set, per_step)]
    env.reset()
    feats, rewards = {}, []
    for _ in range(4 * L):  # random actions from a random start
        _, r, _, f = env.step(rng.uniform(-1, 1, env.action_dim))
        rewards.append(r)
        for k, v in f.items():
            feats.setdefault(k, []).append(v)
    segs += [({k: np.asarray(v[i:i + L]) for k, v in feats.items()}, np.asarray(rewards[i:i + L]))
             for i in range(0, 4 * L, L)]
    for f, r in segs:
        assert bool(suite(f)[0][0]) == (r.mean() >= T.FRACTION), (task, r.mean(), suite(f))


def test_thresholds_match_the_dm_control_models():
    """The constants the tests use are the ones dm_control's task code and models hold."""
    from dm_control.suite import cartpole, finger, reacher

    assert cartpole.Balance._CART_RANGE == (-T.CARTPOLE_CART_RANGE, T.CARTPOLE_CART_RANGE)
    assert cartpole.Balance._ANGLE_COSINE_RANGE == (T.CARTPOLE_COS_MIN, 1)
    assert finger._SPIN_VELOCITY == T.FINGER_SPIN_VELOCITY
    p = make_env("ball_in_cup-catch", 0).physics
    np.testing.assert_allclose(p.named.model.site_size["target", [0, 2]], [T.CUP_HALF_SIZE] * 2)
    assert p.named.model.geom_size["ball", 0] == pytest.approx(T.BALL_RADIUS)
    env = make_env("reacher-easy", 0)
    env.reset()  # the task sets the target's size at reset
    assert env.physics.named.model.geom_size[["target", "finger"], 0].sum() == pytest.approx(T.REACHER_RADII)
    assert reacher._BIG_TARGET + env.physics.named.model.geom_size["finger", 0] == pytest.approx(T.REACHER_RADII)
    p = make_env("point_mass-easy", 0).physics
    assert p.named.model.geom_size["target", 0] == pytest.approx(T.POINT_MASS_TARGET)


def test_point_mass_reward_is_high_inside_and_lower_outside_the_target():
    """point_mass's reward is not an indicator: >= 0.8 (the small-control floor) inside the target
    radius, and falling off outside it (0.1 at twice the radius)."""
    env, suite = make_env("point_mass-easy", 0), T.SUITES["point_mass-easy"]
    inside, r_in = _segment(env, _point_mass(0.01, 0.0), action=lambda i: np.ones(2) * (-1) ** i)
    outside, r_out = _segment(env, _point_mass(0.03, 0.0))
    assert suite(inside)[0].all() and r_in.min() >= 0.8 - 1e-9
    assert not suite(outside)[0].any() and r_out.max() < 0.5
