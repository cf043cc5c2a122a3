#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, user postgres, trust), MariaDB (127.0.0.1:3306, root,
# empty password) and Redis (127.0.0.1:6379, the rate limits' shared store; it keeps nothing on
# disk) are running for the test suite: install them from Debian when they are missing, start
# them when they are down, and wait until each answers.
set -euo pipefail

SUDO=()
[[ "$(id -u)" -eq 0 ]] || SUDO=(sudo -n)
apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 -U postgres 2>/dev/null; }
mariadb_up() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root status >/dev/null 2>&1; }
redis_up() { [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }

wait_for() {
    local name=$1 check=$2
    for _ in $(seq 60); do
        "$check" && { echo "ensure-databases: $name is up"; return 0; }
        sleep 1
    done
    echo "ensure-databases: $name did not come up" >&2
    return 1
}

if ! postgres_up; then
    if ! command -v pg_ctlcluster >/dev/null; then
        apt_install postgresql postgresql-client
        version=$(ls /etc/postgresql | sort -V | tail -1)
        # Local test server: let the postgres user in over TCP from this machine without a password.
        "${SUDO[@]}" sed -i '1i host all postgres 127.0.0.1/32 trust' "/etc/postgresql/$version/main/pg_hba.conf"
    fi
    version=$(ls /etc/postgresql | sort -V | tail -1)
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
wait_for PostgreSQL postgres_up

if ! mariadb_up; then
    fresh=false
    if ! command -v mariadbd >/dev/null && [[ ! -x /usr/sbin/mariadbd ]]; then
        apt_install mariadb-server mariadb-client
        fresh=true
    fi
    "${SUDO[@]}" mkdir -p /run/mysqld && "${SUDO[@]}" chown mysql:mysql /run/mysqld 2>/dev/null || true
    "${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    if $fresh; then
        for _ in $(seq 30); do mariadb -u root -e "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
        # Local test server: root over TCP with an empty password, like the development machines.
        "${SUDO[@]}" mariadb -u root -e \
            "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); \
             CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
             GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
    fi
fi
wait_for MariaDB mariadb_up

if ! redis_up; then
    command -v redis-server >/dev/null || apt_install redis-server
    "${SUDO[@]}" mkdir -p /var/lib/redis /var/log/redis
    "${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/shop-tests.log
fi
wait_for Redis redis_up
