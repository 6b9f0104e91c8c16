import Testing

/// Every test that traces, forks or mounts runs inside this suite, one at a
/// time: they share the machine's processes, mounts and $TMPDIR, and some
/// assert that nothing of develtrace's is left there.
@Suite(.serialized) enum Machine {}
