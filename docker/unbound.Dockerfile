# Unbound with ECS (subnetcache) for the compose demo.
FROM debian:12-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends unbound \
    && rm -rf /var/lib/apt/lists/*
COPY docker/unbound.conf /etc/unbound/demo.conf
EXPOSE 53/udp 53/tcp
CMD ["unbound", "-d", "-c", "/etc/unbound/demo.conf"]
