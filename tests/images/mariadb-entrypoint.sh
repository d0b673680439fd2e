#!/bin/sh
# MariaDB from Debian's packages, started as the official `mariadb` image starts it:
# MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD), MARIADB_DATABASE / MYSQL_DATABASE,
# MARIADB_USER / MYSQL_USER with MARIADB_PASSWORD / MYSQL_PASSWORD on first start; then
# `mariadbd` as user mysql, listening on every address.
set -eu
root_pw=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
database=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
user=${MARIADB_USER:-${MYSQL_USER:-}}
user_pw=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}
if [ "${1:-}" = mariadbd ]; then
  mkdir -p /var/lib/mysql /run/mysqld
  chown mysql:mysql /var/lib/mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    setpriv --reuid mysql --regid mysql --init-groups mariadbd --skip-networking \
      --socket=/run/mysqld/init.sock &
    for _ in $(seq 1 100); do
      mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break
      sleep 0.2
    done
    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      echo "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('$root_pw') OR unix_socket;"
      echo "CREATE USER root@'%' IDENTIFIED BY '$root_pw'; GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;"
      [ -z "$database" ] || echo "CREATE DATABASE \`$database\`;"
      if [ -n "$user" ]; then
        echo "CREATE USER '$user'@'%' IDENTIFIED BY '$user_pw';"
        [ -z "$database" ] || echo "GRANT ALL ON \`$database\`.* TO '$user'@'%';"
      fi
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    mariadb-admin --socket=/run/mysqld/init.sock -uroot shutdown
    wait
  fi
  shift
  exec setpriv --reuid mysql --regid mysql --init-groups mariadbd --bind-address=0.0.0.0 "$@"
fi
exec "$@"
