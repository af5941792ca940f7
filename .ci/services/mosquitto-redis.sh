# Mosquitto (external-broker mode) and Redis (clustered brokers): each test starts its own on 127.0.0.1.
command -v mosquitto >/dev/null || apt_install mosquitto
command -v redis-server >/dev/null || apt_install redis-server
# Debian starts them as services on install where an init system runs; tests use their own instances.
