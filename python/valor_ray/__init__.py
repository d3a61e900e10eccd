"""VALOR Studio on a Ray cluster: tool servers as actors, `valor eval` shards and grounding
verification as tasks, reward-service replicas behind one address.

Start it the way Ray jobs are started, from a machine that can reach the cluster:

    RAY_ADDRESS=ray://head:10001 python -m valor_ray eval bench.jsonl --images imgs --out runs/bench
    ray job submit --working-dir python -- python -m valor_ray eval ...     (needs ray[default])

Without RAY_ADDRESS (or --address) the driver starts a local Ray instance on this machine.
See docs/scale.md.
"""
