"""Apache Storm 2.8 for squall: provisioning from Maven Central, the ``storm`` command that
``sparse`` calls, and a single-node cluster (ZooKeeper, Nimbus, Supervisor, UI REST)."""
