# etcd 3.4 for docker/compose.cluster.yml: Debian 12's etcd-server, the same
# package and version the fleet tests and `scripts/demo --cluster` run.
FROM debian:12-slim
# policy-rc.d: the package must not try to start its own service while installing.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends etcd-server \
    && rm -rf /var/lib/apt/lists/*
# The package's system user; its home /var/lib/etcd holds the data (a volume per member).
USER etcd
VOLUME ["/var/lib/etcd"]
EXPOSE 2379 2380
ENTRYPOINT ["/usr/bin/etcd"]
