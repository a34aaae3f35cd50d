"""mailsdk benchmarks: throughput against peers, rendering CPU, failover latency, memory.

Run them all with ``nox -s bench`` or ``python -m benchmarks`` (needs Postfix's smtp-sink,
installed by scripts/setup-dev.sh, and root for smtp-sink's -u). They print tables of
figures and ratios measured in the same run; nothing here asserts a timing.
"""
