"""The paper's evaluation protocol on lm-evaluation-harness: targets, task configs, metrics, runs."""
